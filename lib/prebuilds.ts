/**
 * Prebuilt addons and how to pick one. prebuilds/manifest.json lists each
 * prebuild with the libtorch (and CUDA) it was linked against and the hash of
 * the native sources it was built from. A CUDA prebuild is chosen only when a
 * libtorch of the same version with CUDA is found (LIBTORCH, Torch_DIR, or a
 * Python torch install); its libraries are loaded first so no LD_LIBRARY_PATH
 * is needed. Otherwise the CPU prebuild (Debian's libtorch) is used, through
 * node-gyp-build, with a one-line notice when a CUDA prebuild was skipped.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface PrebuildEntry {
  /** Path relative to prebuilds/. */
  file: string;
  platform: string;
  arch: string;
  /** libtorch version it links, e.g. "1.13.0" or "2.11.0". */
  torchVersion: string;
  /** CUDA version of that libtorch, or null for CPU builds. */
  cuda: string | null;
  /** sha256 over native/ and the build files (scripts/native-hash.js). */
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
  notice?: string;
}

export interface TorchInstall {
  libDir: string;
  version: string;
  cuda: string | null;
  origin: string;
}

export function readManifest(root: string): PrebuildEntry[] {
  const file = path.join(root, "prebuilds", "manifest.json");
  if (!fs.existsSync(file)) return [];
  const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
  if (!Array.isArray(parsed)) throw new Error(`${file}: expected an array of prebuild entries`);
  return parsed as PrebuildEntry[];
}

/** Reads torch/version.py of an installed torch package (no Python import). */
function torchPackageVersion(torchDir: string): { version: string; cuda: string | null } | undefined {
  const versionFile = path.join(torchDir, "version.py");
  if (!fs.existsSync(versionFile)) return undefined;
  const text = fs.readFileSync(versionFile, "utf8");
  const version = /__version__\s*=\s*['"]([^'"]+)['"]/.exec(text)?.[1];
  const cuda = /^cuda\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]/m.exec(text)?.[1] ?? null;
  return version ? { version: version.replace(/\+.*$/, ""), cuda } : undefined;
}

/** A CUDA-capable libtorch on this machine, if any (LIBTORCH, Torch_DIR, then Python torch). */
export function findTorchInstall(): TorchInstall | undefined {
  const roots: { root: string; origin: string }[] = [];
  if (process.env.LIBTORCH) roots.push({ root: process.env.LIBTORCH, origin: "LIBTORCH" });
  if (process.env.Torch_DIR) roots.push({ root: path.resolve(process.env.Torch_DIR, "../../.."), origin: "Torch_DIR" });
  for (const { root, origin } of roots) {
    const libDir = path.join(root, "lib");
    const versionText = ["build-version", "version.txt"].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
    const fromPy = torchPackageVersion(root);
    const version = fromPy?.version ?? (versionText ? fs.readFileSync(versionText, "utf8").trim().replace(/\+.*$/, "") : undefined);
    const cuda = fromPy?.cuda ?? (fs.existsSync(path.join(libDir, "libtorch_cuda.so")) ? "unknown" : null);
    if (version && fs.existsSync(libDir)) return { libDir, version, cuda, origin };
  }
  const python = process.env.EMBEDDINGS_TORCH_PYTHON ?? "python3";
  try {
    const dir = execFileSync(
      python,
      ["-c", "import importlib.util as u, sys; s = u.find_spec('torch'); sys.stdout.write(s.submodule_search_locations[0] if s else '')"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 },
    );
    const info = dir ? torchPackageVersion(dir) : undefined;
    if (dir && info) return { libDir: path.join(dir, "lib"), version: info.version, cuda: info.cuda, origin: `${python} (torch at ${dir})` };
  } catch {
    // No such python, or it has no torch: there is simply no Python libtorch to use.
  }
  return undefined;
}

const CUDA_PRELOAD = ["libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so"];

/** Prebuilt addons to try for this platform, best first. */
export function prebuildCandidates(root: string): AddonCandidate[] {
  const entries = readManifest(root).filter((e) => e.platform === process.platform && e.arch === process.arch);
  const out: AddonCandidate[] = [];
  const cudaEntries = entries.filter((e) => e.cuda);
  let notice: string | undefined;
  if (cudaEntries.length > 0 && process.env.EMBEDDINGS_TORCH_CPU !== "1") {
    const torch = findTorchInstall();
    const match = torch?.cuda ? cudaEntries.find((e) => e.torchVersion === torch.version) : undefined;
    if (torch && match) {
      out.push({
        file: path.join(root, "prebuilds", match.file),
        origin: `CUDA prebuild for libtorch ${match.torchVersion} (CUDA ${match.cuda}), libtorch from ${torch.origin}`,
        preload: CUDA_PRELOAD.map((lib) => path.join(torch.libDir, lib)).filter((f) => fs.existsSync(f)),
        torchVersion: match.torchVersion,
        cuda: match.cuda,
      });
    } else {
      const wanted = cudaEntries.map((e) => `libtorch ${e.torchVersion} + CUDA ${e.cuda}`).join(", ");
      const found = torch ? `found libtorch ${torch.version}${torch.cuda ? ` (CUDA ${torch.cuda})` : " (CPU)"} from ${torch.origin}` : "found no CUDA libtorch";
      notice = `embeddings-torch: using the CPU prebuild; the CUDA prebuild needs ${wanted}, ${found}.`;
    }
  }
  for (const entry of entries.filter((e) => !e.cuda)) {
    out.push({
      file: cpuPrebuildPath(root, entry),
      origin: `CPU prebuild for libtorch ${entry.torchVersion}`,
      preload: [],
      torchVersion: entry.torchVersion,
      cuda: null,
      ...(notice ? { notice } : {}),
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
