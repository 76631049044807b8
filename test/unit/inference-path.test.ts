/**
 * The inference fast path (native/models/inference_path.h: fused QKV GEMM,
 * mask and scale folded into the score GEMM, in-place softmax/GELU, residual
 * added by the GEMM) against the exact per-op path that training uses. A
 * forward without grad in eval mode takes the fast path; the same forward with
 * `grad: true` takes the exact one. Both must agree to float32 rounding, also
 * after the weights change under the cached stacked QKV weight: loadStateDict,
 * an optimizer step, a dtype change. (Parity with PyTorch/transformers itself:
 * test/parity/text-models.test.ts, clip.test.ts, sentence-transformers.test.ts.)
 */
import { Module, Tensor } from "../../lib";
import { Optimizer } from "../../lib/training/optimizer";
import { backward } from "../../lib/training/autograd";
import { rankingLoss } from "../../lib/training/losses";
import { seededValues } from "../helpers/torch-reference";

const BERT = { vocab_size: 50, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 32, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, pooling: "mean", add_pooling_layer: false };
const CLIP = { vocab_size: 50, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 16, projection_dim: 8, eos_token_id: 2, attention_dropout: 0 };

/** A padded batch [3, 7]: lengths 7, 4, 1 (the padding rows exercise the additive mask); `shift` changes the ids. */
function batch(shift = 0): Tensor[] {
  const lengths = [7, 4, 1];
  const ids = new BigInt64Array(21);
  const mask = new BigInt64Array(21);
  lengths.forEach((len, b) => {
    for (let i = 0; i < 7; i++) {
      ids[b * 7 + i] = BigInt(i < len ? 3 + ((b * 11 + i * 7 + shift) % 45) : 0);
      mask[b * 7 + i] = i < len ? 1n : 0n;
    }
  });
  return [Tensor.from(ids, [3, 7]), Tensor.from(mask, [3, 7])];
}

async function maxDiffFastVsExact(m: Module, inputs: Tensor[]): Promise<{ diff: number; fast: Float32Array }> {
  using fast = await m.forwardTensor(inputs);
  using exact = await m.forwardTensor(inputs, { grad: true });
  const a = fast.toFloat32Array();
  const b = exact.toFloat32Array();
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
  return { diff, fast: a };
}

/** New random weights for every parameter (seeded), loaded with loadStateDict (copy_ into the existing tensors). */
async function reloadWeights(m: Module, seed: number): Promise<void> {
  const fresh = new Map(m.namedParameters().map((p, i) => [p.name, Tensor.from(seededValues(seed + i, p.shape.reduce((a, b) => a * b, 1)), p.shape)]));
  await m.loadStateDict(fresh);
  for (const t of fresh.values()) t.dispose();
}

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

// CLIP's MLP activation runs in place on the inference path (quick_gelu blockwise
// in cache-sized row blocks; native/models/clip.cc) and its residual sums are added
// in place. A wide MLP (4096) makes quick_gelu's rows span several blocks, the
// last one partial, split over the threads.
describe("clip: in-place activation and residuals on the inference path", () => {
  test.each(["quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu"])("clip-text, hidden_act %s: equals the exact path within 1e-6", async (act) => {
    using m = Module.create("clip-text", { ...CLIP, hidden_act: act, intermediate_size: 4096 }).eval();
    const inputs = batch();
    try {
      const { diff } = await maxDiffFastVsExact(m, [inputs[0] as Tensor]);
      expect(diff).toBeLessThan(1e-6);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });

  test("clip-vision (quick_gelu): equals the exact path within 1e-6", async () => {
    const vision = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 4096, image_size: 32, patch_size: 8, projection_dim: 8, attention_dropout: 0 };
    using m = Module.create("clip-vision", vision).eval();
    using pixels = Tensor.from(seededValues(7, 2 * 3 * 32 * 32), [2, 3, 32, 32]);
    const { diff } = await maxDiffFastVsExact(m, [pixels]);
    expect(diff).toBeLessThan(1e-6);
  });
});
