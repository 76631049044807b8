/**
 * The inference fast path (native/models/inference_path.h: fused QKV GEMM,
 * mask and scale folded into the score GEMM, in-place softmax/GELU, residual
 * added by the GEMM) against the exact per-op path that training uses. A
 * forward without grad in eval mode takes the fast path; the same forward with
 * `grad: true` takes the exact one. Both must agree to float32 rounding, also
 * after the weights change under the cached stacked QKV weight: loadStateDict,
 * an optimizer step, a dtype change. (Parity with PyTorch/transformers itself:
 * test/parity/text-models.test.ts, clip.test.ts, sentence-transformers.test.ts.)
 * Where the build has oneDNN, the fast path's Linear layers run through it with
 * packed weights (native/models/onednn_linear.h); EMBEDDINGS_TORCH_ONEDNN=0
 * puts them back on at::addmm.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Module, runtimeInfo, type Tensor } from "../../lib";
import { Optimizer } from "../../lib/training/optimizer";
import { backward } from "../../lib/training/autograd";
import { rankingLoss } from "../../lib/training/losses";
import { reportSkip } from "../helpers/skip";
import { inferenceBatch, seedWeights } from "../helpers/inference-batch";

const BERT = { vocab_size: 50, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 32, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, pooling: "mean", add_pooling_layer: false };
const CLIP = { vocab_size: 50, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 16, projection_dim: 8, eos_token_id: 2, attention_dropout: 0 };

const batch = inferenceBatch;

async function maxDiffFastVsExact(m: Module, inputs: Tensor[]): Promise<{ diff: number; fast: Float32Array }> {
  using fast = await m.forwardTensor(inputs);
  using exact = await m.forwardTensor(inputs, { grad: true });
  const a = fast.toFloat32Array();
  const b = exact.toFloat32Array();
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
  return { diff, fast: a };
}

const reloadWeights = seedWeights;

describe.each([
  ["bert", BERT],
  ["xlm-roberta", { ...BERT, pad_token_id: 1 }],
  ["clip-text", CLIP],
])("%s: inference path equals the exact path", (architecture, options) => {
  test("at creation, after loadStateDict, after an optimizer step and in float64 (no stale stacked weights)", async () => {
    using m = Module.create(architecture, options).eval();
    const inputs = batch();
    try {
      const first = await maxDiffFastVsExact(m, inputs);
      expect(first.diff).toBeLessThan(1e-5);

      await reloadWeights(m, 100);
      const reloaded = await maxDiffFastVsExact(m, inputs);
      expect(reloaded.diff).toBeLessThan(1e-5);
      expect(reloaded.fast).not.toEqual(first.fast);  // the new weights are used

      using opt = Optimizer.sgd(m, { lr: 0.5 });
      const others = batch(5);
      using q = await m.forwardTensor(inputs, { grad: true });
      using n = await m.forwardTensor(others, { grad: true });
      using p = await m.forwardTensor(inputs, { grad: true });
      for (const t of others) t.dispose();
      using loss = await rankingLoss({ kind: "cosine_margin", margin: 2 }, { query: q, positive: p, negative: n });
      await backward(loss);
      await opt.step();
      const stepped = await maxDiffFastVsExact(m, inputs);
      expect(stepped.diff).toBeLessThan(1e-5);
      expect(stepped.fast).not.toEqual(reloaded.fast);

      m.to("float64");
      const f64 = await maxDiffFastVsExact(m, inputs);
      expect(f64.diff).toBeLessThan(1e-12);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });
});

describe("oneDNN packed GEMMs (native/models/onednn_linear.h)", () => {
  const ROOT = path.resolve(__dirname, "../..");
  const gemm = runtimeInfo().inferenceGemm ?? "";

  test("serve the inference path where oneDNN's headers were installed at build time (scripts/setup.sh installs libdnnl-dev)", () => {
    if (!fs.existsSync("/usr/include/oneapi/dnnl/dnnl.hpp")) {
      reportSkip(`inference GEMMs: ${gemm} (no /usr/include/oneapi/dnnl/dnnl.hpp on this machine, so no oneDNN expected)`);
      return;
    }
    expect(gemm).toMatch(/^oneDNN \d+\.\d+\.\d+ \S+ \(weights packed once\)$/);
  });

  test.each([
    ["bert", BERT],
    ["clip-text", CLIP],
  ])("%s: a process with EMBEDDINGS_TORCH_ONEDNN=0 uses at::addmm and agrees to float32 rounding", async (architecture, options) => {
    const child = spawnSync(process.execPath, ["-r", path.join(ROOT, "test/helpers/register-ts.js"), path.join(ROOT, "test/helpers/inference-forward.ts"), architecture, JSON.stringify(options)], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, EMBEDDINGS_TORCH_ONEDNN: "0" },
    });
    expect(child.stderr).toBe("");
    const off = JSON.parse(child.stdout) as { gemm: string; values: number[] };
    expect(off.gemm).toMatch(/^at::addmm \(/);
    using m = Module.create(architecture, options).eval();
    await seedWeights(m, 100);
    const inputs = inferenceBatch();
    using on = await m.forwardTensor(inputs);
    for (const t of inputs) t.dispose();
    const values = on.toFloat32Array();
    expect(values.length).toBe(off.values.length);
    let diff = 0;
    for (let i = 0; i < values.length; i++) diff = Math.max(diff, Math.abs((values[i] as number) - (off.values[i] as number)));
    expect(diff).toBeLessThan(1e-5);
  });

  test("every row count and concurrent forwards agree with the exact path (rows in blocks of 256, 64-multiples and the rest)", async () => {
    using m = Module.create("bert", BERT).eval();
    // M = B*L: 1..70 (lengths 1..10 x batches 1..7), then 120 = 64 + 56, 280 = 256 + 24 and 600 = 2 x 256 + 64 + 24; ten at a time in parallel.
    const shapes: number[][] = [];
    for (let b = 1; b <= 7; b++) for (let len = 1; len <= 10; len++) shapes.push(Array.from({ length: b }, (_, i) => Math.max(1, len - i)));
    shapes.push([30, 30, 30, 30], Array(10).fill(28), Array(20).fill(30));
    for (let start = 0; start < shapes.length; start += 10) {
      const diffs = await Promise.all(shapes.slice(start, start + 10).map(async (lengths, i) => {
        const inputs = inferenceBatch(start + i, lengths);
        try {
          return (await maxDiffFastVsExact(m, inputs)).diff;
        } finally {
          for (const t of inputs) t.dispose();
        }
      }));
      for (const d of diffs) expect(d).toBeLessThan(1e-5);
    }
  });
});
