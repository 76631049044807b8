/**
 * Loads the native addon once and types it (the only place that knows its
 * shape). Order: `EMBEDDINGS_TORCH_ADDON` (a path), a source build in
 * build/Release, then the prebuilds of this interface version that
 * lib/prebuilds.ts selects (a CUDA variant where its libtorch is present,
 * else linux-x64 CPU). Every addon must report NATIVE_INTERFACE_VERSION; its
 * revision may be older than NATIVE_INTERFACE_REVISION (then the features that
 * need newer bindings say so: {@link requireRevision}).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { applyEnvironmentDefaults } from "./environment";
import { AddonLoadError, UnsupportedError } from "./errors";
import { prebuildCandidates, type AddonCandidate } from "./prebuilds";
import { missingLibraries } from "./shared-libraries";

/**
 * The JS <-> native interface this package speaks (native/interface_version.h:
 * bump both together, README "Prebuilds"). Addons built before the addon
 * exported its version (the CUDA prebuild from sources 85ee327c) implement
 * version 1.
 */
export const NATIVE_INTERFACE_VERSION = 1;

/**
 * The additions to version 1 this package knows (native/interface_version.h
 * EMBEDDINGS_TORCH_INTERFACE_REVISION). An addon of an older revision loads;
 * a feature that needs a newer one calls {@link requireRevision}.
 *   2: NativeProcessGroup, c10dBackends (data-parallel training).
 *   3: NativeModule.forward takes host arrays ({@link NativeHostArray}) besides
 *      tensors; NativeModule.expectForward (a query's forward without the
 *      compute thread's wake-up).
 */
export const NATIVE_INTERFACE_REVISION = 3;

/** A forward input copied from JS memory onto the module's device as it is queued (revision 3). */
export interface NativeHostArray {
  readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  readonly shape: readonly number[];
}

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly device: string;
  requiresGrad: boolean;
  readonly grad: NativeTensor | null;
  readonly isDisposed: boolean;
  data(): Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;
  toFloat32Array(): Float32Array;
  to(device: string | null, dtype: string | null): NativeTensor;
  dispose(): void;
}

export interface NativeParameterInfo {
  name: string;
  shape: number[];
  dtype: string;
  requiresGrad: boolean;
}

export type NativeOutput = NativeTensor | NativeOutput[] | { [name: string]: NativeOutput } | null | number;

export interface NativeModule {
  readonly kind: string;
  readonly inputNames: string[];
  readonly device: string;
  readonly isTraining: boolean;
  readonly inFlight: number;
  readonly isDisposed: boolean;
  namedParameters(): NativeParameterInfo[];
  setRequiresGrad(names: string[], flag: boolean): number;
  train(flag: boolean): void;
  to(device: string | null, dtype: string | null): void;
  stateDict(): Record<string, NativeTensor>;
  loadStateDict(tensors: Record<string, NativeTensor>): { missing: string[]; unexpected: string[] };
  forward(inputs: (NativeTensor | NativeHostArray)[] | Record<string, NativeTensor | NativeHostArray>, grad: boolean, autocast: string | null): Promise<NativeOutput>;
  /** Revision 3: a forward follows within ~0.5 ms; a CPU module wakes the compute thread now. */
  expectForward?(): void;
  /** Traces a native module on `inputs` (named `names`) or saves a TorchScript one, into `file`. */
  trace(names: string[], inputs: NativeTensor[], file: string): Promise<undefined>;
  dispose(): void;
}

/** Options of NativeOptimizer.create (lib/training/optimizer.ts validates them). */
export interface NativeOptimizerOptions {
  lr: number;
  weightDecay?: number;
  betas?: readonly [number, number];
  eps?: number;
  amsgrad?: boolean;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
}

export interface NativeParamGroup {
  module: NativeModule;
  lr?: number;
  weightDecay?: number;
}

export interface NativeOptimizer {
  readonly kind: "adamw" | "sgd";
  readonly groupCount: number;
  readonly trainableCount: number;
  getLr(group: number): number;
  setLr(group: number, lr: number): void;
  zeroGrad(): void;
  step(options: { maxGradNorm?: number; normType?: number }): Promise<{ gradNorm: number | null; stepped: number }>;
  clipGradNorm(maxNorm: number, normType: number): Promise<number>;
  gradients(): Record<string, NativeTensor>;
  stateDict(): Record<string, NativeTensor>;
  loadStateDict(tensors: Record<string, NativeTensor>): number;
  dispose(): void;
}

export interface RuntimeInfo {
  torchVersion: string;
  torchSource: string;
  torchLibDir: string;
  nativeHash: string;
  cudaBuilt: boolean;
  cudaAvailable: boolean;
  deviceCount: number;
  numThreads: number;
  interopThreads: number;
  parallelInfo: string;
  /**
   * What serves the Linear layers (and, with oneDNN, attention's products) of
   * CPU inference forwards (eval, no grad): e.g. "oneDNN 2.6.3 brg:avx512_core,
   * weights packed once (bfloat16: brg:avx512_core_bf16)", or "at::addmm; ..."
   * with the reason (absent in addons built before 2026-12-02).
   */
  inferenceGemm?: string;
  /**
   * What serves self-attention in CPU inference forwards: "fused per head,
   * AVX-512 (float32 and bfloat16)" where each head's scores, softmax and context are
   * computed in one pass (native/models/fused_attention.h), otherwise the
   * score and context GEMMs with the reason. EMBEDDINGS_TORCH_ATTENTION=gemm
   * keeps the GEMMs (absent in addons built before 2026-12-07).
   */
  inferenceAttention?: string;
  /**
   * CPU inference forwards of at most 128 rows (batch × length: a query) whose
   * matrix products were split by columns across partner threads instead of
   * OpenMP's, since the addon loaded (README "Threads and BLAS"). Stays 0 on
   * one intra-op thread or one CPU (absent in addons built before 2026-12-07).
   */
  splitForwards?: number;
  architectures: string[];
  /** Bytes of native memory this thread's handles report to V8, once per storage (absent in addons built before 2026-12-02). */
  externalMemory?: number;
}

/** native/process_group.h: one c10d process group (TCPStore rendezvous, Gloo for CPU tensors, NCCL for CUDA tensors). */
export interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  broadcastModules(modules: NativeModule[], root: number): Promise<undefined>;
  allreduceGradients(modules: NativeModule[], divisor: number, bucketBytes?: number): Promise<undefined>;
  allreduce(values: Float64Array, op: "sum" | "max" | "min"): Promise<Float64Array>;
  barrier(): Promise<undefined>;
  missingPeers(waitMs: number): Promise<number[]>;
  dispose(): void;
}

export interface NativeProcessGroupOptions {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  timeoutMs: number;
  ifname?: string;
  hostname?: string;
}

export interface Addon {
  /** native/interface_version.h; absent in addons built before it was exported (version 1). */
  readonly interfaceVersion?: number;
  /** native/interface_version.h; absent in addons built before revisions were counted (revision 1). */
  readonly interfaceRevision?: number;
  NativeTensor: {
    fromBuffer(data: ArrayBufferView, shape: readonly number[], dtype: string, device: string, requiresGrad: boolean): NativeTensor;
  };
  NativeModule: {
    create(architecture: string, options: Record<string, number | string | boolean>): NativeModule;
    loadTorchScript(file: string, device: string): Promise<NativeModule>;
  };
  NativeOptimizer: {
    create(kind: "adamw" | "sgd", groups: NativeParamGroup[], options: NativeOptimizerOptions): NativeOptimizer;
  };
  loss(name: string, tensors: NativeTensor[], options: Record<string, number>): Promise<NativeTensor>;
  backward(loss: NativeTensor, scale: number): Promise<undefined>;
  runtimeInfo(): RuntimeInfo;
  cat(tensors: NativeTensor[], dim: number): Promise<NativeTensor>;
  backwardOutputs(outputs: NativeTensor[], gradients: NativeTensor[] | null): Promise<undefined>;
  namedGradients(module: NativeModule): Record<string, NativeTensor | null>;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(device: string): void;
  manualSeed(seed: number): void;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  setAllowTF32(allow: boolean): void;
  getAllowTF32(): boolean;
  /** Benchmarks only: mean ns per `module.forward(inputs)` timed in C++ on the JS thread (native/bench.h). */
  benchForward(module: NativeModule, inputs: NativeTensor[], iterations: number, mode?: "no_grad" | "inference_mode"): number;
  /**
   * Data-parallel training (native/process_group.h): absent in addons built without c10d's Gloo
   * headers and in those built before it; lib/training/distributed/support.ts checks both.
   */
  readonly NativeProcessGroup?: { create(options: NativeProcessGroupOptions): Promise<NativeProcessGroup> };
  /**
   * The c10d backends built in, comma-separated: "gloo" (CPU models), "nccl" (CUDA models), "gloo,nccl",
   * or "" (neither); absent in addons built before data-parallel training.
   */
  readonly c10dBackends?: string;
}

/** The package root (holds package.json, build/, prebuilds/), from lib/ or dist/. */
export const PACKAGE_ROOT = path.resolve(__dirname, "..");

let addon: Addon | undefined;
let loadedFrom: string | undefined;
let loadEnvironment: LoadEnvironment | undefined;

/** The settings libtorch, OpenMP and OpenBLAS read as they loaded, and which of them the loader chose. */
export interface LoadEnvironment {
  OMP_WAIT_POLICY: string | null;
  OPENBLAS_CORETYPE: string | null;
  /** The variables the loader set (lib/environment.ts); the others were the user's or unset. */
  setByLoader: string[];
}

/** The environment the addon was loaded under (after the first native() call). */
export function addonEnvironment(): LoadEnvironment | undefined {
  return loadEnvironment;
}

/**
 * Throws an UnsupportedError naming `feature`, the loaded addon file and what
 * to do, unless the loaded addon implements interface revision `revision` (the
 * CUDA prebuild may be older than this package's sources).
 */
export function requireRevision(feature: string, revision: number): void {
  if (hasRevision(revision)) return;
  const loaded = native().interfaceRevision ?? 1;
  throw new UnsupportedError(
    `${feature} needs native interface revision ${revision}, but the addon loaded from ${loadedFrom ?? "?"} implements revision ${loaded} (built from older sources than this package): ${SOURCE_BUILD.replace(/^or /, "")}`,
  );
}

/** Whether the loaded addon implements interface revision `revision` (features with a fallback for older addons). */
export function hasRevision(revision: number): boolean {
  return (native().interfaceRevision ?? 1) >= revision;
}

/** Which file the addon was loaded from (after the first native() call). */
export function addonPath(): string | undefined {
  return loadedFrom;
}

function candidates(): AddonCandidate[] {
  const list: AddonCandidate[] = [];
  const explicit = process.env.EMBEDDINGS_TORCH_ADDON;
  if (explicit) return [{ file: path.resolve(explicit), origin: "EMBEDDINGS_TORCH_ADDON", preload: [] }];
  const source = path.join(PACKAGE_ROOT, "build", "Release", "embeddings_torch.node");
  if (fs.existsSync(source)) list.push({ file: source, origin: "source build (build/Release)", preload: [] });
  list.push(...prebuildCandidates(PACKAGE_ROOT, NATIVE_INTERFACE_VERSION));
  return list;
}

/** Whether `npm run build:native` can work here: a repository checkout with its devDependencies. */
function canBuildFromSource(): boolean {
  return fs.existsSync(path.join(PACKAGE_ROOT, "CMakeLists.txt")) && fs.existsSync(path.join(PACKAGE_ROOT, "node_modules", "cmake-js"));
}

const SOURCE_BUILD = canBuildFromSource()
  ? "rebuild from source here: npm run build:native"
  : "or build the addon in a clone of the repository (bash scripts/setup.sh) and set EMBEDDINGS_TORCH_ADDON to its build/Release/embeddings_torch.node";

/** What to install for a candidate's libtorch. */
function installAdvice(candidate: AddonCandidate): string {
  if (candidate.cuda) return `pip install torch==${candidate.torchVersion ?? "?"} (CUDA ${candidate.cuda}) or set LIBTORCH to that libtorch's root; ${SOURCE_BUILD}.`;
  if (candidate.torchVersion) return `on Debian 12 / Ubuntu: apt-get install -y libtorch-dev libopenblas0-pthread (libtorch ${candidate.torchVersion}); elsewhere set LD_LIBRARY_PATH to a libtorch ${candidate.torchVersion} lib/ folder, ${SOURCE_BUILD}.`;
  return `install the libtorch it was built against (LD_LIBRARY_PATH), ${SOURCE_BUILD}.`;
}

/** Why a dlopen failed, in words a user can act on. */
function explain(candidate: AddonCandidate, message: string): string {
  const missing = /([\w.+-]+\.so[\w.]*): cannot open shared object file/.exec(message)?.[1];
  const glibc = /version `(GLIBC(?:XX)?_[\d.]+)' not found/.exec(message)?.[1];
  const lines = [`  ${candidate.file} (${candidate.origin}):\n    ${message.split("\n")[0]}`];
  if (missing) {
    const wanted = candidate.torchVersion ? ` libtorch ${candidate.torchVersion}${candidate.cuda ? ` (CUDA ${candidate.cuda})` : " (CPU)"}` : " libtorch";
    lines.push(`    → ${missing} is missing: this addon was built for${wanted}.`);
    lines.push(`      ${installAdvice(candidate)}`);
  } else if (glibc) {
    lines.push(`    → this addon needs ${glibc}, newer than this machine's C library; ${SOURCE_BUILD}.`);
  } else if (/undefined symbol/.test(message)) {
    lines.push(`    → the libtorch found has another version than the one this addon was built for: ${installAdvice(candidate)}`);
  } else if (/interface version/.test(message)) {
    lines.push(`    → ${SOURCE_BUILD.replace(/^or /, "")}.`);
  }
  return lines.join("\n");
}

/** Loads one candidate; throws dlopen's error, or a mismatch of the interface version. */
function load(candidate: AddonCandidate): Addon {
  for (const lib of candidate.preload) preloadLibrary(lib);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(candidate.file) as Addon;
  const version = loaded.interfaceVersion ?? 1;
  if (version !== NATIVE_INTERFACE_VERSION)
    throw new Error(`native interface version ${version}, this package needs ${NATIVE_INTERFACE_VERSION} (the addon was built from other sources than this package)`);
  return loaded;
}

/** A one-line report that `candidate` failed and `next` is tried (a warning, code EMBEDDINGS_TORCH_FALLBACK). */
function reportFallback(candidate: AddonCandidate, next: AddonCandidate | undefined, message: string): void {
  if (next) process.emitWarning(`embeddings-torch: the ${candidate.origin} failed to load (${message.split("\n")[0]}); trying the ${next.origin}.`, { code: "EMBEDDINGS_TORCH_FALLBACK" });
}

/** What the check found: the candidates, the first whose libraries are all there, and what failed before it. */
interface Selection {
  readonly list: readonly AddonCandidate[];
  readonly first: number;
  readonly tried: string[];
}

let selection: Selection | undefined;

function loadError(tried: readonly string[]): AddonLoadError {
  return new AddonLoadError(
    [
      `embeddings-torch: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, N-API ${process.versions.napi}, native interface ${NATIVE_INTERFACE_VERSION}).`,
      tried.length ? "Tried:" : "No addon file was found (no build/Release, no prebuild of this platform and interface version).",
      ...tried,
      "Possible solutions:",
      "  - the CPU prebuild needs Debian's libtorch: apt-get install -y libtorch-dev libopenblas0-pthread (Debian 12 / Ubuntu);",
      "  - the CUDA prebuild needs pip's torch of its version with CUDA (see prebuilds/manifest.json), or LIBTORCH set to it;",
      `  - ${SOURCE_BUILD.replace(/^or /, "")};`,
      "  - point EMBEDDINGS_TORCH_ADDON at a built embeddings_torch.node.",
    ].join("\n"),
  );
}

/**
 * Finds the addon and checks it without loading libtorch (about a second):
 * the first candidate whose file is a shared object whose libraries the
 * dynamic linker would find (lib/shared-libraries.ts). First applies
 * lib/environment.ts's defaults (OMP_WAIT_POLICY=PASSIVE, an
 * OPENBLAS_CORETYPE that matches the CPU) unless the user set them: libtorch
 * reads them once, as it loads. lib/index.ts calls this at require time.
 * @throws AddonLoadError listing every path tried, its error and the fix.
 */
export function checkAddon(): void {
  select();
}

function select(): Selection {
  if (selection) return selection;
  const applied = applyEnvironmentDefaults();
  loadEnvironment = {
    OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? null,
    OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? null,
    setByLoader: Object.keys(applied),
  };
  const list = candidates();
  const tried: string[] = [];
  for (const [index, candidate] of list.entries()) {
    let message: string;
    try {
      const missing = missingLibraries(candidate.file, candidate.preload);
      if (missing.length === 0) return (selection = { list, first: index, tried });
      message = missing.map((soname) => `${soname}: cannot open shared object file: No such file or directory`).join("; ");
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    tried.push(explain(candidate, message));
    reportFallback(candidate, list[index + 1], message);
  }
  throw loadError(tried);
}

/**
 * The addon, loaded on first use: the candidate {@link checkAddon} chose,
 * then the ones after it. A candidate that fails while another follows is
 * reported in one line (a warning) before the next is tried.
 * @throws AddonLoadError listing every path tried, its error and the fix.
 */
export function native(): Addon {
  if (addon) return addon;
  const { list, first, tried } = select();
  for (let index = first; index < list.length; index++) {
    const candidate = list[index] as AddonCandidate;
    try {
      addon = load(candidate);
      loadedFrom = candidate.file;
      if (candidate.notice) process.emitWarning(candidate.notice, { code: "EMBEDDINGS_TORCH_PREBUILD" });
      return addon;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      tried.push(explain(candidate, message));
      reportFallback(candidate, list[index + 1], message);
    }
  }
  throw loadError(tried);
}

/**
 * Loads a shared library into the process with RTLD_GLOBAL so the addon's
 * dependencies resolve by soname without LD_LIBRARY_PATH. process.dlopen
 * rejects it as a Node module after loading it, which is expected.
 */
function preloadLibrary(file: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { constants } = require("node:os") as typeof import("node:os");
  const module = { exports: {} };
  try {
    process.dlopen(module, file, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!/self-register|Module did not|napi_register_module/.test(message)) throw error;
  }
}
