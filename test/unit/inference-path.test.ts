/**
 * The inference fast path (native/models/inference_path.h: fused QKV GEMM,
 * mask and scale folded into the score GEMM, in-place softmax/GELU, residual
 * added by the GEMM) against the exact per-op path that training uses. A
 * forward without grad in eval mode takes the fast path; the same forward with
 * `grad: true` takes the exact one. Both must agree to float32 rounding, also
 * after the weights change under the cached stacked (and packed) weights:
 * loadStateDict, an optimizer step, a dtype change. (Parity with
 * PyTorch/transformers itself: test/parity/text-models.test.ts, clip.test.ts,
 * sentence-transformers.test.ts.)
 *
 * The fast path's Linear layers run on the GEMM EMBEDDINGS_TORCH_GEMM chooses
 * (read once per process): "auto" (this process: oneDNN where it packs the
 * weights, i.e. AVX-512/AMX, else at::addmm), "onednn" and "addmm", each also
 * run in a child process here (test/helpers/inference-forward.ts).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Module, runtimeInfo, Tensor } from "../../lib";
import { ARCHITECTURES, ATTENTION_HEADS, attentionScenario, bfloat16Scenario, CLIP, fastVsExact, inferenceBatch, rowCountScenario, seedWeights, staleWeightsScenario, type StaleWeightsReport } from "../helpers/inference-scenarios";
import { cpuFlags, readCpuinfo } from "../../lib/cpu-features";
import { seededValues } from "../helpers/torch-reference";
import { reportSkip } from "../helpers/skip";
import { maxRelDiff } from "../helpers/fixtures";

const ROOT = path.resolve(__dirname, "../..");
const ONEDNN_HEADERS = fs.existsSync("/usr/include/oneapi/dnnl/dnnl.hpp");

interface ChildReport {
  gemm: string;
  attentionPath: string;
  stale: StaleWeightsReport;
  rows: number;
  bfloat16: { cosine: number; relative: number };
  attention: number;
}

/** test/helpers/inference-forward.ts for one architecture in a process of its own, with `env` added. */
function inferenceForwardChild(architecture: string, env: Record<string, string>): ChildReport {
  const child = spawnSync(process.execPath, ["-r", path.join(ROOT, "test/helpers/register-ts.js"), path.join(ROOT, "test/helpers/inference-forward.ts"), architecture], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  expect(child.stderr).toBe("");
  return JSON.parse(child.stdout) as ChildReport;
}

function expectFastEqualsExact(report: StaleWeightsReport): void {
  expect(report.created).toBeLessThan(1e-5);
  expect(report.reloaded).toBeLessThan(1e-5);
  expect(report.reloadChanged).toBe(true);  // the new weights are used
  expect(report.stepped).toBeLessThan(1e-5);
  expect(report.stepChanged).toBe(true);
  expect(report.float64).toBeLessThan(1e-12);
}

describe.each(["bert", "xlm-roberta", "clip-text"])("%s: inference path equals the exact path", (architecture) => {
  test("at creation, after loadStateDict, after an optimizer step and in float64 (no stale stacked weights)", async () => {
    expectFastEqualsExact(await staleWeightsScenario(architecture));
  });

  test("every row count, ten forwards at a time", async () => {
    expect(await rowCountScenario(architecture)).toBeLessThan(1e-5);
  });

  // bfloat16 keeps 8 bits of mantissa: every product rounds its inputs and its
  // output once (~0.4% each), LayerNorm and softmax accumulate in float32.
  test("in bfloat16: every padded row's embedding within cosine 0.9995 of float32's exact path", async () => {
    const { cosine, relative } = await bfloat16Scenario(architecture);
    expect(cosine).toBeGreaterThan(0.9995);
    expect(relative).toBeLessThan(0.05);
  });
});

// The embeddings' inference forward adds type and position rows in place (no
// position or zero type ids made): given token types must still be looked up
// per token, and BERT's pooler runs inside the forward's split scope.
describe("bert: token types and the pooler on the inference path", () => {
  test("types 0 and 1 given, and none: equal to the exact path within 1e-6 of the largest value; the types change the output", async () => {
    using m = Module.create("bert", { ...ARCHITECTURES["bert"], type_vocab_size: 2, pooling: "pooler", add_pooling_layer: true }).eval();
    await seedWeights(m, 700);
    const [ids, mask] = inferenceBatch(5) as [Tensor, Tensor];
    using types = Tensor.from(BigInt64Array.from({ length: ids.numel }, (_, i) => (i % 3 === 1 ? 1n : 0n)), ids.shape);
    const typed = await fastVsExact(m, [ids, mask, types]);
    const untyped = await fastVsExact(m, [ids, mask]);
    ids.dispose();
    mask.dispose();
    expect(typed.relative).toBeLessThan(1e-6);
    expect(untyped.relative).toBeLessThan(1e-6);
    expect(Math.max(...typed.fast.map((v, i) => Math.abs(v - (untyped.fast[i] as number))))).toBeGreaterThan(1e-3);
  });
});

describe("the GEMM behind the inference path (EMBEDDINGS_TORCH_GEMM)", () => {
  test("runtimeInfo().inferenceGemm says which serves it, and oneDNN is built where its headers are installed (scripts/setup.sh installs libdnnl-dev)", () => {
    const gemm = runtimeInfo().inferenceGemm ?? "";
    expect(gemm).toMatch(/^(at::addmm|oneDNN \d+\.\d+\.\d+ \S+, weights packed once( \(bfloat16: brg:\S+\))?$)/);
    if (!ONEDNN_HEADERS) {
      reportSkip(`inference GEMMs: ${gemm} (no /usr/include/oneapi/dnnl/dnnl.hpp on this machine, so no oneDNN expected)`);
      return;
    }
    expect(gemm).toMatch(/oneDNN \d+\.\d+\.\d+/);
    expect(gemm).not.toMatch(/no oneDNN in this build/);
  });

  test.each([
    ["onednn", "bert"],
    ["onednn", "clip-text"],
    ["addmm", "bert"],
  ])("EMBEDDINGS_TORCH_GEMM=%s, %s: the same equalities in a process of its own", (mode, architecture) => {
    if (mode === "onednn" && !ONEDNN_HEADERS) {
      reportSkip("EMBEDDINGS_TORCH_GEMM=onednn: no oneDNN headers on this machine, so the addon has no oneDNN to choose");
      return;
    }
    const report = inferenceForwardChild(architecture, { EMBEDDINGS_TORCH_GEMM: mode });
    expect(report.gemm).toMatch(mode === "onednn" ? /^oneDNN \d+\.\d+\.\d+ \S+, weights .* \(EMBEDDINGS_TORCH_GEMM=onednn\)$/ : /^at::addmm \(EMBEDDINGS_TORCH_GEMM=addmm\)$/);
    expectFastEqualsExact(report.stale);
    expect(report.rows).toBeLessThan(1e-5);
    expect(report.attention).toBeLessThan(2e-6);
    expect(report.bfloat16.cosine).toBeGreaterThan(0.9995);
    expect(report.bfloat16.relative).toBeLessThan(0.05);
  });
});

// float32 self-attention on AVX-512 CPUs runs each head in one pass: scores of
// 12 query rows at a time, their softmax and their context rows, the scores never
// leaving the cache (native/models/fused_attention.h). Head sizes 16..128 in
// steps of 16; others, bfloat16 and other CPUs take the score and context GEMMs.
describe("self-attention fused per head (EMBEDDINGS_TORCH_ATTENTION)", () => {
  const flags = cpuFlags(readCpuinfo());
  const avx512 = process.arch === "x64" && ["avx512f", "avx512bw", "avx512dq", "avx512vl"].every((f) => flags.has(f));

  test("runtimeInfo().inferenceAttention says which serves it: the fused kernel wherever the CPU has AVX-512", () => {
    const attention = runtimeInfo().inferenceAttention ?? "";
    if (!avx512) {
      reportSkip(`fused attention: this CPU has no AVX-512 (F, BW, DQ, VL), so the GEMMs serve it: "${attention}"; the equalities below still ran on them`);
      expect(attention).toMatch(/^score and context GEMMs \(the fused kernel needs an x86-64 CPU with AVX-512\)$/);
      return;
    }
    expect(attention).toBe("fused per head, AVX-512 (float32 and bfloat16)");
  });

  test.each(["bert", "xlm-roberta", "clip-text"])("%s: head sizes 16..128, partial row and column blocks, padding and causal masks: within 2e-6 of a float64 forward, relative to its largest value", async (architecture) => {
    expect(await attentionScenario(architecture)).toBeLessThan(2e-6);
  });

  // bfloat16 heads are widened to float32 once, run through the same kernel and rounded back once.
  test.each(["bert", "clip-text"])("%s in bfloat16, head sizes 16..128: every padded row within cosine 0.9995 of float32's exact path", async (architecture) => {
    for (const heads of ATTENTION_HEADS) {
      const { cosine, relative } = await bfloat16Scenario(architecture, { ...ARCHITECTURES[architecture], ...heads, max_position_embeddings: 64 });
      expect(cosine).toBeGreaterThan(0.9995);
      expect(relative).toBeLessThan(0.05);
    }
  });

  test("clip-vision, head size 32, 65 positions (no mask): equal to the exact path", async () => {
    const vision = { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 128, image_size: 32, patch_size: 4, projection_dim: 8, attention_dropout: 0 };
    using m = Module.create("clip-vision", vision).eval();
    using pixels = Tensor.from(seededValues(9, 3 * 3 * 32 * 32), [3, 3, 32, 32]);
    const { diff } = await fastVsExact(m, [pixels]);
    expect(diff).toBeLessThan(1e-5);
  });

  test("EMBEDDINGS_TORCH_ATTENTION=gemm keeps the GEMMs, in a process of its own: the same equalities", () => {
    const report = inferenceForwardChild("clip-text", { EMBEDDINGS_TORCH_ATTENTION: "gemm" });
    expect(report.attentionPath).toBe("score and context GEMMs (EMBEDDINGS_TORCH_ATTENTION=gemm)");
    expectFastEqualsExact(report.stale);
    expect(report.rows).toBeLessThan(1e-5);
    expect(report.attention).toBeLessThan(2e-6);
  });
});

// autocast's per-op casts are what make it reduced precision; the packed GEMMs,
// fused attention and LayerNorm of the inference path would bypass them, so an
// autocast forward takes the per-op path even without grad.
describe("autocast on the CPU keeps the per-op path", () => {
  test.each(["bert", "clip-text"])("%s, autocast bfloat16 without grad: bfloat16 out, equal to the same forward with grad, within 3e-2 of float32", async (architecture) => {
    const options = architecture === "bert" ? { ...(ARCHITECTURES.bert as Record<string, number>), add_pooling_layer: true, pooling: "pooler" } : ARCHITECTURES[architecture];
    using m = Module.create(architecture, options as Record<string, number | string>).eval();
    await seedWeights(m, 300);
    const inputs = inferenceBatch();
    try {
      using mixed = await m.forwardTensor(inputs, { autocast: "bfloat16" });
      using recorded = await m.forwardTensor(inputs, { autocast: "bfloat16", grad: true });
      using strict = await m.forwardTensor(inputs);
      expect(mixed.dtype).toBe(recorded.dtype);
      expect(maxRelDiff(mixed.toFloat32Array(), recorded.toFloat32Array())).toBe(0);
      const drift = maxRelDiff(mixed.toFloat32Array(), strict.toFloat32Array());
      expect(drift).toBeGreaterThan(0);  // it really ran in lower precision
      expect(drift).toBeLessThan(3e-2);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });
});

// An inference batch whose widest intermediate would pass 32 MiB runs its encoder
// in chunks of batch rows (native/models/inference_path.h, InBatchChunks): here an
// MLP 65536 wide, so one 48-position row needs 12 MiB and five rows go as 2 + 2 + 1,
// each chunk with its own rows of the padding (and, for CLIP, causal) mask.
describe("large batches in chunks of rows (InBatchChunks)", () => {
  test.each(["bert", "clip-text"])("%s: five padded rows in three chunks equal the exact path's unchunked forward", async (architecture) => {
    const wide = { ...(ARCHITECTURES[architecture] as Record<string, number>), hidden_size: 64, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 65536, max_position_embeddings: 64 };
    using m = Module.create(architecture, wide).eval();
    await seedWeights(m, 900);
    const inputs = inferenceBatch(1, [48, 47, 33, 17, 16]);
    try {
      const { relative, fast } = await fastVsExact(m, inputs);
      expect(fast.length % 5).toBe(0);
      expect(relative).toBeLessThan(2e-6);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });
});

// A query-sized forward (at most 128 rows) on two or more intra-op threads splits
// each packed product by column blocks across partner threads instead of
// OpenMP's team (native/small_forward.h). In a process of its own: it starts on
// one thread, so setNumThreads(2) must reach the compute thread's team after
// its first forward, and the partner starts with the first split forward.
describe("query-sized forwards split across partner threads", () => {
  test.each(["bert", "xlm-roberta", "clip-text"])("%s: equal to the same forwards on one thread, and to the exact path", (architecture) => {
    const child = spawnSync(process.execPath, ["-r", path.join(ROOT, "test/helpers/register-ts.js"), path.join(ROOT, "test/helpers/small-forward.ts"), architecture], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(child.stderr).toBe("");
    const report = JSON.parse(child.stdout) as { cpus: number; batches: number; eligible: number; atOneThread: number; split: number; vsSingle: number; vsExact: number; bfloat16: { cosine: number; relative: number } };
    expect(report.atOneThread).toBe(0);
    expect(report.vsSingle).toBeLessThan(1e-6);  // relative to the largest value
    expect(report.vsExact).toBeLessThan(1e-5);
    expect(report.bfloat16.cosine).toBeGreaterThan(0.9995);
    const splitHere = report.cpus >= 2 && ONEDNN_HEADERS && /packed once/.test(runtimeInfo().inferenceGemm ?? "");
    if (!splitHere) {
      reportSkip(`split forwards: ${report.cpus} CPU(s), inference GEMMs "${runtimeInfo().inferenceGemm}": products are split only on 2+ CPUs where oneDNN packs the weights; the equalities above still ran`);
      expect(report.split).toBe(0);
      return;
    }
    // Every batch of at most 128 rows ran split, and the one of 280 rows did not.
    expect(report.eligible).toBe(report.batches - 1);
    expect(report.split).toBe(report.eligible);
  });
});

// CLIP's MLP activation runs in place on the inference path (quick_gelu blockwise
// in cache-sized row blocks; native/models/clip.cc) and its residual sums are added
// in place. A wide MLP (4096) makes quick_gelu's rows span several blocks, the
// last one partial, split over the threads.
describe("clip: in-place activation and residuals on the inference path", () => {
  test.each(["quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu"])("clip-text, hidden_act %s: equals the exact path within 1e-6", async (act) => {
    using m = Module.create("clip-text", { ...CLIP, hidden_act: act, intermediate_size: 4096 }).eval();
    const inputs = inferenceBatch();
    try {
      const { diff } = await fastVsExact(m, [inputs[0] as Tensor]);
      expect(diff).toBeLessThan(1e-6);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });

  test("clip-vision (quick_gelu): equals the exact path within 1e-6", async () => {
    const vision = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 4096, image_size: 32, patch_size: 8, projection_dim: 8, attention_dropout: 0 };
    using m = Module.create("clip-vision", vision).eval();
    using pixels = Tensor.from(seededValues(7, 2 * 3 * 32 * 32), [2, 3, 32, 32]);
    const { diff } = await fastVsExact(m, [pixels]);
    expect(diff).toBeLessThan(1e-6);
  });
});
