/**
 * CPU feature checks (lib/cpu-features.ts) and what `dtype: "bfloat16"` loads
 * as on CPU (weightDtype in lib/models/weight-dtype.ts), with the
 * /proc/cpuinfo flags injected; then the real load on this machine's CPU.
 */
import * as path from "node:path";

import { TextToImageClipModel, TextToTextBertModel } from "../../lib";
import { cpuFlags, cpuHasBfloat16Matmul, readCpuinfo } from "../../lib/cpu-features";
import { weightDtype } from "../../lib/models/weight-dtype";
import { FIXTURES } from "../helpers/fixtures";

// Flag lines as /proc/cpuinfo prints them (abridged).
const SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse2 fma avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8\n";
const COOPER_LAKE = "processor\t: 0\nflags\t\t: fpu sse2 fma avx avx2 avx512f avx512bw avx512_bf16\n";
const SKYLAKE_X = "processor\t: 0\nflags\t\t: fpu sse2 fma avx avx2 avx512f avx512bw avx512dq avx512vl\n";
const ZEN3 = "processor\t: 0\nflags\t\t: fpu sse2 fma avx avx2 sha_ni\n";

describe("cpuHasBfloat16Matmul", () => {
  test("AMX-BF16 or AVX512-BF16 counts; AVX-512 or AVX2 alone, another architecture or no cpuinfo does not", () => {
    expect(cpuHasBfloat16Matmul(SAPPHIRE_RAPIDS, "x64")).toBe(true);
    expect(cpuHasBfloat16Matmul(COOPER_LAKE, "x64")).toBe(true);
    expect(cpuHasBfloat16Matmul(SKYLAKE_X, "x64")).toBe(false);
    expect(cpuHasBfloat16Matmul(ZEN3, "x64")).toBe(false);
    expect(cpuHasBfloat16Matmul(SAPPHIRE_RAPIDS, "arm64")).toBe(false);
    expect(cpuHasBfloat16Matmul("", "x64")).toBe(false);
    expect(cpuFlags(ZEN3).has("avx2")).toBe(true);
  });
});

describe("weightDtype", () => {
  test("bfloat16 on a CPU without bf16 matrix instructions becomes float32 with a one-line notice naming the call", () => {
    const choice = weightDtype("bfloat16", "cpu", "X.fromPretrained(\"m\")", () => ZEN3);
    expect(choice.dtype).toBe("float32");
    expect(choice.notice).toMatch(/^X\.fromPretrained\("m"\): dtype "bfloat16" runs as float32 on this CPU: it has neither AMX-BF16 nor AVX512-BF16/);
    expect(choice.notice).not.toMatch(/\n/);
  });

  test("bfloat16 stays where the CPU has AMX or AVX512-BF16, and on CUDA; other dtypes are never changed", () => {
    if (process.arch !== "x64") return;  // cpuHasBfloat16Matmul is x64-only; the flags below are x64 flags
    expect(weightDtype("bfloat16", "cpu", "w", () => SAPPHIRE_RAPIDS)).toEqual({ dtype: "bfloat16" });
    expect(weightDtype("bfloat16", "cpu", "w", () => COOPER_LAKE)).toEqual({ dtype: "bfloat16" });
    expect(weightDtype("bfloat16", "cuda", "w", () => ZEN3)).toEqual({ dtype: "bfloat16" });
    expect(weightDtype("float16", "cpu", "w", () => ZEN3)).toEqual({ dtype: "float16" });
    expect(weightDtype("float32", "cpu", "w", () => ZEN3)).toEqual({ dtype: "float32" });
  });
});

describe("fromPretrained({dtype: \"bfloat16\"}) on this machine's CPU", () => {
  const hasBf16 = cpuHasBfloat16Matmul(readCpuinfo());

  const load = {
    TextToTextBertModel: () => TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { dtype: "bfloat16" }),
    TextToImageClipModel: () => TextToImageClipModel.fromPretrained(path.join(FIXTURES, "clip-tiny"), { dtype: "bfloat16" }),
  };
  test.each(Object.keys(load) as (keyof typeof load)[])(`%s: loads ${hasBf16 ? "bfloat16 weights (this CPU has bf16 matrix instructions)" : "float32 weights with a notice (this CPU has no AMX-BF16/AVX512-BF16)"}, in every tower`, async (kind) => {
    const warn = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      using model = await load[kind]();
      const dtypes = new Set([...model.getQueryModelParams(), ...model.getItemsModelParams()].map((p) => p.dtype));
      expect([...dtypes]).toEqual([hasBf16 ? "bfloat16" : "float32"]);
      const notices = warn.mock.calls.filter((call) => (call[1] as { code?: string } | undefined)?.code === "EMBEDDINGS_TORCH_BF16_CPU");
      expect(notices).toHaveLength(hasBf16 ? 0 : 1);
    } finally {
      warn.mockRestore();
    }
  });

  test("a dtype that is not float32, float16 or bfloat16 is a RangeError (both loaders)", async () => {
    const refused = expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/dtype must be "float32", "float16" or "bfloat16" but received/) });
    await expect(TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { dtype: "int64" as "float32" })).rejects.toThrow(refused);
    await expect(TextToImageClipModel.fromPretrained(path.join(FIXTURES, "clip-tiny"), { dtype: "int64" as "float32" })).rejects.toThrow(refused);
  });
});
