/**
 * Environment defaults the loader applies before libtorch (and with it OpenMP
 * and OpenBLAS) loads: these libraries read their settings from the
 * environment once, when they initialise, so later changes have no effect.
 * A variable the user set is never changed.
 *
 * - `OMP_WAIT_POLICY=PASSIVE`: Debian's libtorch runs element-wise ops on
 *   OpenMP threads and matrix products on OpenBLAS threads; spinning OpenMP
 *   workers steal the cores OpenBLAS needs (2x single-query latency, 10x p90).
 * - `OPENBLAS_CORETYPE`: Debian 12's OpenBLAS 0.3.21 does not know recent
 *   Intel CPUs (Sapphire/Emerald Rapids) and falls back to its SSE3
 *   "Prescott" kernels, 2-3x slower on every matrix product
 *   (bench/README.md, finding 1). Where /proc/cpuinfo lists AVX-512 F, BW,
 *   DQ and VL the loader names `SkylakeX`, else `Haswell` where it lists
 *   avx2 and fma;
 *   a kernel is only ever chosen for instructions the CPU has. Set
 *   `EMBEDDINGS_TORCH_OPENBLAS_CORETYPE=auto` to keep OpenBLAS' own
 *   detection, or to a core name to force that one.
 */
import { cpuFlags, readCpuinfo } from "./cpu-features";

/** The OpenBLAS core for a CPU's /proc/cpuinfo flags, or null (not x64, or nothing better than OpenBLAS' own choice). */
export function openblasCoreFor(cpuinfo: string, arch: string = process.arch): "SkylakeX" | "Haswell" | null {
  if (arch !== "x64") return null;
  const flags = cpuFlags(cpuinfo);
  if (flags.has("avx512f") && flags.has("avx512bw") && flags.has("avx512dq") && flags.has("avx512vl")) return "SkylakeX";
  if (flags.has("avx2") && flags.has("fma")) return "Haswell";
  return null;
}

/** What the loader set (absent: the user's value or nothing). */
export interface AppliedDefaults {
  OMP_WAIT_POLICY?: string;
  OPENBLAS_CORETYPE?: string;
}

/** Sets the defaults above in `env` (process.env: inherited by libtorch and by child processes). */
export function applyEnvironmentDefaults(env: NodeJS.ProcessEnv = process.env, cpuinfo: () => string = readCpuinfo): AppliedDefaults {
  const applied: AppliedDefaults = {};
  if (env.OMP_WAIT_POLICY === undefined) applied.OMP_WAIT_POLICY = env.OMP_WAIT_POLICY = "PASSIVE";
  if (env.OPENBLAS_CORETYPE === undefined) {
    const wanted = env.EMBEDDINGS_TORCH_OPENBLAS_CORETYPE;
    const core = wanted === undefined || wanted === "" ? openblasCoreFor(cpuinfo()) : wanted.toLowerCase() === "auto" ? null : wanted;
    if (core) applied.OPENBLAS_CORETYPE = env.OPENBLAS_CORETYPE = core;
  }
  return applied;
}
