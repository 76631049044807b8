/**
 * Finding a CUDA libtorch for a CUDA prebuild, cheaply: LIBTORCH and
 * Torch_DIR are read from disk; only without them is Python asked where its
 * torch is, and that answer is cached per machine (keyed by PATH and the
 * interpreter), so a process pays for the subprocess once, not at every
 * `require`. The caller asks only when a CUDA prebuild is a candidate (an
 * NVIDIA driver is present, or LIBTORCH/Torch_DIR point somewhere).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface TorchInstall {
  libDir: string;
  version: string;
  /** CUDA version of that libtorch ("13.0"), "unknown" when it has CUDA libraries but no version file says which, null for CPU builds. */
  cuda: string | null;
  origin: string;
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

/** A libtorch root named by LIBTORCH or Torch_DIR (a libtorch zip or a torch package folder). */
function fromEnvironment(env: NodeJS.ProcessEnv): TorchInstall | undefined {
  const roots: { root: string; origin: string }[] = [];
  if (env.LIBTORCH) roots.push({ root: env.LIBTORCH, origin: "LIBTORCH" });
  if (env.Torch_DIR) roots.push({ root: path.resolve(env.Torch_DIR, "../../.."), origin: "Torch_DIR" });
  for (const { root, origin } of roots) {
    const libDir = path.join(root, "lib");
    const versionText = ["build-version", "version.txt"].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
    const fromPy = torchPackageVersion(root);
    const version = fromPy?.version ?? (versionText ? fs.readFileSync(versionText, "utf8").trim().replace(/\+.*$/, "") : undefined);
    const cuda = fromPy?.cuda ?? (fs.existsSync(path.join(libDir, "libtorch_cuda.so")) ? "unknown" : null);
    if (version && fs.existsSync(libDir)) return { libDir, version, cuda, origin };
  }
  return undefined;
}

/** Where the Python probe's answers are kept: $EMBEDDINGS_TORCH_CACHE_DIR, $XDG_CACHE_HOME/embeddings-torch, ~/.cache/embeddings-torch. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EMBEDDINGS_TORCH_CACHE_DIR) return path.resolve(env.EMBEDDINGS_TORCH_CACHE_DIR);
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "embeddings-torch");
}

/** A Python probe's answer: the torch package folder ("" for none) and when it was asked (ms since the epoch). */
interface ProbeAnswer {
  readonly dir: string;
  readonly at: number;
}

/** `${python}\0${PATH}` → the answer for that interpreter. */
type ProbeCache = Readonly<Record<string, ProbeAnswer>>;

/** "No torch" is asked again after this long (a torch installed since then is found); a found torch is re-validated on every use instead. */
export const NO_TORCH_TTL_MS = 60 * 60 * 1000;

function readCache(file: string): ProbeCache {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as ProbeCache;
  } catch (error) {
    // No cache yet, or one that another version wrote badly: it is only a cache, the probe rebuilds it.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" && !(error instanceof SyntaxError)) throw error;
  }
  return {};
}

function writeCache(file: string, cache: ProbeCache): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(cache));
    fs.renameSync(temp, file);
  } catch (error) {
    // A read-only home: the probe then runs again next time, which is correct, only slower.
    if (!["EACCES", "EROFS", "EPERM", "ENOSPC"].includes((error as NodeJS.ErrnoException).code ?? "")) throw error;
  }
}

/** Asks `python` where its torch package is (a subprocess: 10-500 ms); "" when it has none or cannot run. */
function probePython(python: string): string {
  try {
    return execFileSync(
      python,
      ["-c", "import importlib.util as u, sys; s = u.find_spec('torch'); sys.stdout.write(s.submodule_search_locations[0] if s else '')"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 },
    );
  } catch {
    return "";  // no such python, or it failed: there is no Python torch to use, which is an answer
  }
}

/**
 * The libtorch a CUDA prebuild could use: LIBTORCH, Torch_DIR, then the
 * torch package of `$EMBEDDINGS_TORCH_PYTHON` (default python3), whose
 * location is cached per machine and re-validated by reading its version.py.
 */
export function findTorchInstall(env: NodeJS.ProcessEnv = process.env): TorchInstall | undefined {
  const explicit = fromEnvironment(env);
  if (explicit) return explicit;
  const python = env.EMBEDDINGS_TORCH_PYTHON ?? "python3";
  const file = path.join(cacheDir(env), "python-torch.json");
  const key = `${python}\0${env.PATH ?? ""}`;
  const cache = readCache(file);
  const cached = cache[key];
  const usable =
    cached !== undefined && typeof cached.dir === "string" && typeof cached.at === "number" &&
    (cached.dir === "" ? Date.now() - cached.at < NO_TORCH_TTL_MS : fs.existsSync(path.join(cached.dir, "version.py")));
  let dir = usable ? cached.dir : undefined;
  if (dir === undefined) {
    dir = probePython(python);
    writeCache(file, { ...cache, [key]: { dir, at: Date.now() } });
  }
  const info = dir ? torchPackageVersion(dir) : undefined;
  return dir && info ? { libDir: path.join(dir, "lib"), version: info.version, cuda: info.cuda, origin: `${python} (torch at ${dir})` } : undefined;
}
