/**
 * Prebuilt addons and how to pick one. prebuilds/manifest.json lists each
 * prebuild with the native interface version it implements, the libtorch (and
 * CUDA) it links, the highest glibc and libstdc++ symbol versions it needs and
 * the hash of the sources it was built from. Only prebuilds of this package's
 * interface version are candidates.
 *
 * A CUDA prebuild is a candidate only where CUDA can be: an NVIDIA driver is
 * loaded, or LIBTORCH/Torch_DIR name a libtorch. Then it is chosen when a
 * libtorch of its version with CUDA is found (lib/torch-install.ts) and the
 * C library is new enough; its libraries are loaded first, so no
 * LD_LIBRARY_PATH is needed. A machine without an NVIDIA driver never looks
 * for torch and is told nothing. Otherwise the CPU prebuild (Debian's
 * libtorch) is used, through node-gyp-build.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { compareVersions } from "./compare-versions";
import { findTorchInstall } from "./torch-install";

export { compareVersions };

export interface PrebuildEntry {
  /** Path relative to prebuilds/. */
  file: string;
  platform: string;
  arch: string;
  /** The JS <-> native interface it implements (native/interface_version.h). */
  interfaceVersion: number;
  /** The additions to that version it has; absent in prebuilds made before revisions were counted (revision 1). */
  interfaceRevision?: number;
  /** libtorch version it links, e.g. "1.13.0" or "2.11.0". */
  torchVersion: string;
  /** CUDA version of that libtorch, or null for CPU builds. */
  cuda: string | null;
  /** The highest GLIBC_ symbol version it needs ("2.28"): it loads where glibc is at least this. */
  glibc: string;
  /** The highest GLIBCXX_ symbol version it needs ("3.4.25"); null when libstdc++ is linked in statically. */
  glibcxx: string | null;
  /** sha256 over native/ and the build files it was built from (scripts/native-hash.js). */
  nativeHash: string;
  builtWith: string;
}

export interface AddonCandidate {
  file: string;
  origin: string;
  /** Shared libraries to load (RTLD_GLOBAL) before the addon. */
  preload: string[];
  torchVersion?: string;
  cuda?: string | null;
  /** A one-line notice to give when this candidate is the one that loads. */
  notice?: string;
}

const REQUIRED_FIELDS: ReadonlyArray<[keyof PrebuildEntry, string]> = [
  ["file", "string"], ["platform", "string"], ["arch", "string"], ["interfaceVersion", "number"], ["torchVersion", "string"],
  ["glibc", "string"], ["nativeHash", "string"], ["builtWith", "string"],
];

/** prebuilds/manifest.json of the package at `root` ([] when absent); an entry missing a field fails naming it. */
export function readManifest(root: string): PrebuildEntry[] {
  const file = path.join(root, "prebuilds", "manifest.json");
  if (!fs.existsSync(file)) return [];
  const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
  if (!Array.isArray(parsed)) throw new Error(`${file}: expected an array of prebuild entries`);
  parsed.forEach((entry: unknown, index) => {
    if (typeof entry !== "object" || entry === null) throw new Error(`${file}: entry ${index} is not an object`);
    for (const [field, type] of REQUIRED_FIELDS)
      if (typeof (entry as Record<string, unknown>)[field] !== type) throw new Error(`${file}: entry ${index} (${String((entry as { file?: unknown }).file)}): "${field}" must be a ${type}`);
  });
  return parsed as PrebuildEntry[];
}

/** This process's glibc version ("2.36"), or undefined (musl, not Linux). */
export function runtimeGlibc(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: unknown } } | undefined)?.header;
  return typeof header?.glibcVersionRuntime === "string" ? header.glibcVersionRuntime : undefined;
}

/** Whether CUDA could be used here at all: an NVIDIA kernel driver is loaded. */
export function nvidiaDriverPresent(): boolean {
  return fs.existsSync("/proc/driver/nvidia/version");
}

export interface SelectionContext {
  env: NodeJS.ProcessEnv;
  /** Default: {@link nvidiaDriverPresent}. */
  driverPresent?: () => boolean;
  /** Default: {@link runtimeGlibc}. */
  glibc?: () => string | undefined;
}

const CUDA_PRELOAD = ["libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so"];

/**
 * The CUDA candidate, or why there is none: undefined when CUDA is not in
 * question here (no driver, no LIBTORCH/Torch_DIR, or EMBEDDINGS_TORCH_CPU=1).
 */
function cudaCandidate(root: string, entries: PrebuildEntry[], context: SelectionContext): { candidate?: AddonCandidate; notice?: string } | undefined {
  const { env } = context;
  if (entries.length === 0 || env.EMBEDDINGS_TORCH_CPU === "1") return undefined;
  if (!env.LIBTORCH && !env.Torch_DIR && !(context.driverPresent ?? nvidiaDriverPresent)()) return undefined;
  const wanted = entries.map((e) => `torch ${e.torchVersion} + CUDA ${e.cuda}`).join(", ");
  const torch = findTorchInstall(env);
  const match = torch?.cuda ? entries.find((e) => e.torchVersion === torch.version) : undefined;
  if (!torch || !match) {
    const found = torch ? `found torch ${torch.version}${torch.cuda ? ` (CUDA ${torch.cuda})` : " (CPU)"} from ${torch.origin}` : "found no torch (LIBTORCH, Torch_DIR, python3)";
    const install = entries[0] ? ` (pip install torch==${entries[0].torchVersion}, or set LIBTORCH)` : "";
    return { notice: `embeddings-torch: using the CPU prebuild: the CUDA prebuild needs ${wanted}${install}; ${found}.` };
  }
  const glibc = (context.glibc ?? runtimeGlibc)();
  if (glibc !== undefined && compareVersions(match.glibc, glibc) > 0)
    return { notice: `embeddings-torch: using the CPU prebuild: the CUDA prebuild (${match.file}) needs glibc ${match.glibc}, this machine has ${glibc}; build from source (README "Build from source") to use CUDA here.` };
  return {
    candidate: {
      file: path.join(root, "prebuilds", match.file),
      origin: `CUDA prebuild for torch ${match.torchVersion} (CUDA ${match.cuda}), libtorch from ${torch.origin}`,
      preload: CUDA_PRELOAD.map((lib) => path.join(torch.libDir, lib)).filter((f) => fs.existsSync(f)),
      torchVersion: match.torchVersion,
      cuda: match.cuda,
    },
  };
}

/** Prebuilt addons to try for this platform and interface version, best first. */
export function prebuildCandidates(root: string, interfaceVersion: number, context: SelectionContext = { env: process.env }): AddonCandidate[] {
  const entries = readManifest(root).filter((e) => e.platform === process.platform && e.arch === process.arch && e.interfaceVersion === interfaceVersion);
  const out: AddonCandidate[] = [];
  const cuda = cudaCandidate(root, entries.filter((e) => e.cuda), context);
  if (cuda?.candidate) out.push(cuda.candidate);
  for (const entry of entries.filter((e) => !e.cuda)) {
    out.push({
      file: cpuPrebuildPath(root, entry),
      origin: `CPU prebuild for libtorch ${entry.torchVersion}`,
      preload: [],
      torchVersion: entry.torchVersion,
      cuda: null,
      ...(cuda?.notice ? { notice: cuda.notice } : {}),
    });
  }
  return out;
}

/**
 * node-gyp-build resolves the CPU prebuild (platform, arch and N-API tags) when
 * no source build shadows it; with a source build present the manifest path is
 * used as the fallback.
 */
function cpuPrebuildPath(root: string, entry: PrebuildEntry): string {
  if (fs.existsSync(path.join(root, "build", "Release"))) return path.join(root, "prebuilds", entry.file);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require("node-gyp-build") as { path(dir: string): string };
    return nodeGypBuild.path(root);
  } catch {
    // node-gyp-build found no file with matching tags: the manifest path then fails with dlopen's own message.
    return path.join(root, "prebuilds", entry.file);
  }
}
