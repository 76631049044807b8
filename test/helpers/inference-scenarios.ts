/**
 * The inference fast path against the exact per-op path, as scenarios that
 * report max |fast - exact|: test/unit/inference-path.test.ts runs them in its
 * own process (EMBEDDINGS_TORCH_GEMM as the environment has it, "auto" by
 * default) and, through test/helpers/inference-forward.ts, in child processes
 * with each GEMM (the choice is read once per process).
 */
import { Module, Tensor } from "../../lib";
import { backward } from "../../lib/training/autograd";
import { rankingLoss } from "../../lib/training/losses";
import { Optimizer } from "../../lib/training/optimizer";
import { maxAbsDiff, maxRelDiff } from "./fixtures";
import { seededValues } from "./torch-reference";

export const BERT = { vocab_size: 50, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 32, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, pooling: "mean", add_pooling_layer: false };
export const CLIP = { vocab_size: 50, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 16, projection_dim: 8, eos_token_id: 2, attention_dropout: 0 };
export type Options = Readonly<Record<string, string | number | boolean>>;
export const ARCHITECTURES: Record<string, Options> = { bert: BERT, "xlm-roberta": { ...BERT, pad_token_id: 1 }, "clip-text": CLIP };

/** A padded batch [B, max(lengths)] (default lengths 7, 4, 1: the padding rows exercise the additive mask); `shift` changes the ids. */
export function inferenceBatch(shift = 0, lengths = [7, 4, 1]): Tensor[] {
  const width = Math.max(...lengths);
  const ids = new BigInt64Array(lengths.length * width);
  const mask = new BigInt64Array(lengths.length * width);
  lengths.forEach((len, b) => {
    for (let i = 0; i < width; i++) {
      ids[b * width + i] = BigInt(i < len ? 3 + ((b * 11 + i * 7 + shift) % 45) : 0);
      mask[b * width + i] = i < len ? 1n : 0n;
    }
  });
  return [Tensor.from(ids, [lengths.length, width]), Tensor.from(mask, [lengths.length, width])];
}

/** max |fast - exact| over the outputs of one forward each (eval, no grad vs grad), and the fast path's values. */
export async function fastVsExact(m: Module, inputs: Tensor[]): Promise<{ diff: number; relative: number; fast: number[] }> {
  using fast = await m.forwardTensor(inputs);
  using exact = await m.forwardTensor(inputs, { grad: true });
  const a = fast.toFloat32Array();
  const b = exact.toFloat32Array();
  return { diff: maxAbsDiff(a, b), relative: maxRelDiff(a, b), fast: Array.from(a) };
}

/** New random weights for every parameter (seeded), loaded with loadStateDict (copy_ into the existing tensors). */
export async function seedWeights(m: Module, seed: number): Promise<void> {
  const fresh = new Map(m.namedParameters().map((p, i) => [p.name, Tensor.from(seededValues(seed + i, p.shape.reduce((a, b) => a * b, 1)), p.shape)]));
  await m.loadStateDict(fresh);
  for (const t of fresh.values()) t.dispose();
}

export interface StaleWeightsReport {
  created: number;
  reloaded: number;
  stepped: number;
  float64: number;
  /** The fast path's outputs changed with the weights (no stale stacked or packed copy). */
  reloadChanged: boolean;
  stepChanged: boolean;
}

/** Fast vs exact at creation, after loadStateDict, after an optimizer step and in float64. */
export async function staleWeightsScenario(architecture: string): Promise<StaleWeightsReport> {
  using m = Module.create(architecture, ARCHITECTURES[architecture] as Options).eval();
  const inputs = inferenceBatch();
  try {
    const created = await fastVsExact(m, inputs);
    await seedWeights(m, 100);
    const reloaded = await fastVsExact(m, inputs);
    using opt = Optimizer.sgd(m, { lr: 0.5 });
    const others = inferenceBatch(5);
    using q = await m.forwardTensor(inputs, { grad: true });
    using n = await m.forwardTensor(others, { grad: true });
    using p = await m.forwardTensor(inputs, { grad: true });
    for (const t of others) t.dispose();
    using loss = await rankingLoss({ kind: "cosine_margin", margin: 2 }, { query: q, positive: p, negative: n });
    await backward(loss);
    await opt.step();
    const stepped = await fastVsExact(m, inputs);
    m.to("float64");
    const f64 = await fastVsExact(m, inputs);
    const differs = (a: number[], b: number[]) => a.some((v, i) => v !== b[i]);
    return { created: created.diff, reloaded: reloaded.diff, stepped: stepped.diff, float64: f64.diff, reloadChanged: differs(reloaded.fast, created.fast), stepChanged: differs(stepped.fast, reloaded.fast) };
  } finally {
    for (const t of inputs) t.dispose();
  }
}

/** The sequence lengths of rowCountScenario's batches: B*L = 1..70, then 120, 280, 600 and 4680 rows. */
export function rowCountShapes(): number[][] {
  const shapes: number[][] = [];
  for (let b = 1; b <= 7; b++) for (let len = 1; len <= 10; len++) shapes.push(Array.from({ length: b }, (_, i) => Math.max(1, len - i)));
  shapes.push([12, 12, 12, 12, 12, 12, 12, 12, 12, 12], Array(20).fill(14), Array(40).fill(15), Array(312).fill(15));
  return shapes;
}

/**
 * Fast vs exact over many row counts M = B*L, ten forwards at a time in
 * parallel: 1..70 (lengths 1..10 x batches 1..7), then 120 = 64 + 56,
 * 280 = 256 + 24, 600 = 512 + 64 + 24 and 4680 = 4096 + 512 + 64 + 8 (oneDNN's
 * row blocks: 4096, a multiple of 512, a multiple of 64, the rest). Returns the largest difference.
 */
export async function rowCountScenario(architecture: string): Promise<number> {
  using m = Module.create(architecture, ARCHITECTURES[architecture] as Options).eval();
  await seedWeights(m, 300);
  const shapes = rowCountShapes();
  let worst = 0;
  for (let start = 0; start < shapes.length; start += 10) {
    const diffs = await Promise.all(shapes.slice(start, start + 10).map(async (lengths, i) => {
      const inputs = inferenceBatch(start + i, lengths);
      try {
        return (await fastVsExact(m, inputs)).diff;
      } finally {
        for (const t of inputs) t.dispose();
      }
    }));
    worst = Math.max(worst, ...diffs);
  }
  return worst;
}

/**
 * Head sizes for the fused attention kernel (native/models/fused_attention.h):
 * 16..128 in steps of 16 are its 1..8 vectors per row (80: an odd count; 8 and
 * 40 are not multiples of 16 and take the GEMMs).
 */
export const ATTENTION_HEADS = [
  { hidden_size: 64, num_attention_heads: 4 },   // 16
  { hidden_size: 64, num_attention_heads: 2 },   // 32 (MiniLM's)
  { hidden_size: 96, num_attention_heads: 2 },   // 48
  { hidden_size: 128, num_attention_heads: 2 },  // 64 (BERT-base's, CLIP's)
  { hidden_size: 80, num_attention_heads: 1 },   // 80
  { hidden_size: 128, num_attention_heads: 1 },  // 128
  { hidden_size: 80, num_attention_heads: 2 },   // 40: the GEMMs
  { hidden_size: 88, num_attention_heads: 2 },   // 44: the GEMMs; LayerNorm rows end in 16 + 8 lanes
];

/**
 * The fast path's self-attention over ATTENTION_HEADS against a float64
 * forward of the same module, on padded batches whose lengths leave partial
 * blocks of query rows (8, 12) and of key columns (16, 32): 1, 13, [37, 20, 1]
 * and [48, 47, 33, 17, 16]. clip-text adds its causal mask to the padding one.
 * Returns the largest difference relative to the float64 output's largest
 * value. The reference is float64, not the float32 exact path: that path's
 * own rounding depends on the CPU's ATen and OpenBLAS kernels (on an AMX Xeon
 * it is 3.2e-6 from float64 where the fast path is 9e-7, clip-text with a
 * hidden size of 88; CLIP's outputs reach ~12).
 */
export async function attentionScenario(architecture: string): Promise<number> {
  let worst = 0;
  for (const [i, heads] of ATTENTION_HEADS.entries()) {
    using m = Module.create(architecture, { ...(ARCHITECTURES[architecture] as Options), ...heads, max_position_embeddings: 64 }).eval();
    await seedWeights(m, 700 + 10 * i);
    const batches = [[1], [13], [37, 20, 1], [48, 47, 33, 17, 16]].map((lengths, j) => inferenceBatch(j, lengths));
    try {
      const fast: Float32Array[] = [];
      for (const inputs of batches) {
        using out = await m.forwardTensor(inputs);
        fast.push(out.toFloat32Array());
      }
      m.to("float64");
      for (const [j, inputs] of batches.entries()) {
        using out = await m.forwardTensor(inputs, { grad: true });
        using narrow = out.to("float32");
        worst = Math.max(worst, maxRelDiff(fast[j] as Float32Array, narrow.toFloat32Array()));
      }
    } finally {
      for (const t of batches.flat()) t.dispose();
    }
  }
  return worst;
}

/**
 * bfloat16 on the inference path (oneDNN's packed bfloat16 GEMMs and batched
 * attention products where this CPU multiplies bfloat16 in hardware, else
 * at::addmm) against the float32 exact path on the same weights: the smallest
 * cosine between the two over the rows of padded batches (lengths 7, 4, 1 and
 * 12 rows of 9..1) and the largest |difference| relative to the float32 row's
 * largest value.
 */
export async function bfloat16Scenario(architecture: string, options = ARCHITECTURES[architecture] as Options): Promise<{ cosine: number; relative: number }> {
  using m = Module.create(architecture, options).eval();
  await seedWeights(m, 500);
  const batches = [inferenceBatch(), inferenceBatch(3, [9, 9, 8, 7, 6, 5, 4, 3, 2, 1, 9, 5])];
  try {
    const exact: Float32Array[] = [];
    for (const inputs of batches) {
      using out = await m.forwardTensor(inputs, { grad: true });
      exact.push(out.toFloat32Array());
    }
    m.to("bfloat16");
    let cosine = 1;
    let relative = 0;
    for (const [i, inputs] of batches.entries()) {
      using out = await m.forwardTensor(inputs);
      if (out.dtype !== "bfloat16") throw new Error(`the bfloat16 module returned ${out.dtype}`);
      using wide = out.to("float32");
      const fast = wide.toFloat32Array();
      const reference = exact[i] as Float32Array;
      const width = out.shape[out.shape.length - 1] as number;
      cosine = Math.min(cosine, minRowCosine(fast, reference, width));
      for (let row = 0; row < fast.length / width; row++) {
        let peak = 0;
        let worst = 0;
        for (let j = row * width; j < (row + 1) * width; j++) {
          peak = Math.max(peak, Math.abs(reference[j] as number));
          worst = Math.max(worst, Math.abs((fast[j] as number) - (reference[j] as number)));
        }
        relative = Math.max(relative, worst / peak);
      }
    }
    return { cosine, relative };
  } finally {
    for (const inputs of batches) for (const t of inputs) t.dispose();
  }
}

/** The smallest cosine between matching rows of two [rows, width] matrices (row-major). */
export function minRowCosine(a: Float32Array, b: Float32Array, width: number): number {
  let min = 1;
  for (let row = 0; row < a.length / width; row++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let j = row * width; j < (row + 1) * width; j++) {
      ab += (a[j] as number) * (b[j] as number);
      aa += (a[j] as number) ** 2;
      bb += (b[j] as number) ** 2;
    }
    min = Math.min(min, ab / Math.sqrt(aa * bb));
  }
  return min;
}
