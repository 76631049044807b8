/**
 * The loader's environment defaults (lib/environment.ts): which OpenBLAS core a
 * CPU gets, and that a user's settings always win.
 */
import { applyEnvironmentDefaults, openblasCoreFor } from "../../lib/environment";

// Flag lines as /proc/cpuinfo prints them (abridged to the flags that matter plus neighbours).
const EMERALD_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 amx_tile\n";
const ZEN3 = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 sha_ni\n";
const SANDY_BRIDGE = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx\n";
const XEON_PHI = "processor\t: 0\nflags\t\t: fpu sse sse2 fma avx avx2 avx512f avx512cd avx512er avx512pf\n";  // AVX-512 F without BW/DQ/VL

describe("openblasCoreFor", () => {
  test("AVX-512 (F, BW, DQ, VL) gets SkylakeX, AVX2 + FMA gets Haswell, anything older or non-x64 gets OpenBLAS' own choice", () => {
    expect(openblasCoreFor(EMERALD_RAPIDS, "x64")).toBe("SkylakeX");
    expect(openblasCoreFor(ZEN3, "x64")).toBe("Haswell");
    expect(openblasCoreFor(XEON_PHI, "x64")).toBe("Haswell");
    expect(openblasCoreFor(SANDY_BRIDGE, "x64")).toBeNull();
    expect(openblasCoreFor(EMERALD_RAPIDS, "arm64")).toBeNull();
    expect(openblasCoreFor("", "x64")).toBeNull();
  });
});

describe("applyEnvironmentDefaults", () => {
  test("sets OMP_WAIT_POLICY=PASSIVE and the CPU's OpenBLAS core when unset, and reports what it set", () => {
    const env: NodeJS.ProcessEnv = {};
    expect(applyEnvironmentDefaults(env, () => EMERALD_RAPIDS)).toEqual({ OMP_WAIT_POLICY: "PASSIVE", OPENBLAS_CORETYPE: "SkylakeX" });
    expect(env).toEqual({ OMP_WAIT_POLICY: "PASSIVE", OPENBLAS_CORETYPE: "SkylakeX" });
  });

  test("never changes what the user set, and does not read /proc/cpuinfo then", () => {
    const env: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: "ACTIVE", OPENBLAS_CORETYPE: "Prescott" };
    const cpuinfo = jest.fn(() => EMERALD_RAPIDS);
    expect(applyEnvironmentDefaults(env, cpuinfo)).toEqual({});
    expect(env).toEqual({ OMP_WAIT_POLICY: "ACTIVE", OPENBLAS_CORETYPE: "Prescott" });
    expect(cpuinfo).not.toHaveBeenCalled();
  });

  test("EMBEDDINGS_TORCH_OPENBLAS_CORETYPE=auto keeps OpenBLAS' own detection; a core name is passed on", () => {
    const auto: NodeJS.ProcessEnv = { EMBEDDINGS_TORCH_OPENBLAS_CORETYPE: "auto" };
    expect(applyEnvironmentDefaults(auto, () => EMERALD_RAPIDS)).toEqual({ OMP_WAIT_POLICY: "PASSIVE" });
    expect(auto.OPENBLAS_CORETYPE).toBeUndefined();
    const named: NodeJS.ProcessEnv = { EMBEDDINGS_TORCH_OPENBLAS_CORETYPE: "Cooperlake" };
    expect(applyEnvironmentDefaults(named, () => EMERALD_RAPIDS).OPENBLAS_CORETYPE).toBe("Cooperlake");
  });

  test("a CPU without AVX2 gets no OPENBLAS_CORETYPE", () => {
    const env: NodeJS.ProcessEnv = {};
    applyEnvironmentDefaults(env, () => SANDY_BRIDGE);
    expect(env.OPENBLAS_CORETYPE).toBeUndefined();
  });
});
