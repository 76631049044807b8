/**
 * The ranking losses against formulas written in PyTorch from EmbeddingStudio's
 * code (test/helpers/torch_reference.py): loss values and the gradients with
 * respect to the embeddings.
 */
import { ShapeError, Tensor } from "../../lib";
import { backward } from "../../lib/training/autograd";
import { rankingLoss, type RankingLoss } from "../../lib/training/losses";
import { maxAbsDiff, maxRelDiff } from "../helpers/fixtures";
import { rows, runTorchReference, seededValues, torchReferenceUnavailable } from "../helpers/torch-reference";
import { reportSkip } from "../helpers/skip";

const unavailable = torchReferenceUnavailable();
const maybe = unavailable ? describe.skip : describe;
if (unavailable) reportSkip(`skipped: PyTorch reference unavailable (${unavailable})`);

const B = 6;
const D = 5;

function leaf(values: Float32Array, shape: number[]): Tensor {
  return Tensor.from(values, shape, { requiresGrad: true });
}

maybe("ranking losses against PyTorch", () => {
  const query = seededValues(11, B * D);
  const positive = seededValues(12, B * D);
  const negative = seededValues(13, B * D);
  const extra = seededValues(14, 3 * D);
  const pc = seededValues(15, B).map((x) => 0.5 + 0.5 * Math.abs(x));
  const nc = seededValues(16, B).map((x) => 0.5 + 0.5 * Math.abs(x));

  // cos(q0, p0) - cos(q0, n0), so a margin can put pair 0 where the steep sigmoid has a gradient
  const cos = (a: Float32Array, b: Float32Array) => {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < D; i++) (ab += a[i]! * b[i]!), (aa += a[i]! * a[i]!), (bb += b[i]! * b[i]!);
    return ab / Math.sqrt(aa * bb);
  };
  const diff0 = cos(query.subarray(0, D), positive.subarray(0, D)) - cos(query.subarray(0, D), negative.subarray(0, D));

  const cases: [string, RankingLoss, boolean, boolean][] = [
    ["cosine_margin (margin 0.3)", { kind: "cosine_margin", margin: 0.3 }, false, false],
    ["prob_margin_ranking with confidences", { kind: "prob_margin_ranking", margin: 1 }, true, false],
    ["prob_margin_ranking without confidences (default margin 1)", { kind: "prob_margin_ranking" }, false, false],
    ["cosine_prob_margin_ranking as intended (scale 400, shift 6), pair 0 at the sigmoid's centre", { kind: "cosine_prob_margin_ranking", margin: diff0 + 6 / 400 }, true, false],
    ["cosine_prob_margin_ranking with scale 20, shift 1, margin 0.5", { kind: "cosine_prob_margin_ranking", margin: 0.5, scale: 20, shift: 1 }, false, false],
    ["info_nce, in-batch only", { kind: "info_nce", temperature: 0.07 }, false, false],
    ["info_nce with 3 extra negatives", { kind: "info_nce" }, false, true],
  ];

  test.each(cases)("%s: value and gradients w.r.t. the embeddings match PyTorch", async (_name, loss, withConfidence, withExtra) => {
    const isNce = loss.kind === "info_nce";
    const inputs: Record<string, number[][] | number[]> = { query: rows(query, D), positive: rows(positive, D) };
    if (!isNce) inputs.negative = rows(negative, D);
    if (withExtra) inputs.negative = rows(extra, D);
    if (withConfidence) {
      inputs.positiveConfidence = Array.from(pc);
      inputs.negativeConfidence = Array.from(nc);
    }
    const ref = runTorchReference<{ value: number; grads: Record<string, number[]> }>({ mode: "loss", loss, inputs });

    using q = leaf(query, [B, D]);
    using p = leaf(positive, [B, D]);
    using n = withExtra ? leaf(extra, [3, D]) : leaf(negative, [B, D]);
    using cp = Tensor.from(pc, [B]);
    using cn = Tensor.from(nc, [B]);
    using value = await rankingLoss(loss, {
      query: q,
      positive: p,
      ...(isNce && !withExtra ? {} : { negative: n }),
      ...(withConfidence ? { positiveConfidence: cp, negativeConfidence: cn } : {}),
    });
    expect(Math.max(...ref.grads.query!.map(Math.abs))).toBeGreaterThan(1e-3);  // not a saturated, gradient-free case
    expect(value.shape).toEqual([]);
    expect(Math.abs(value.toFloat32Array()[0]! - ref.value)).toBeLessThan(1e-6);
    await backward(value);
    const grads: [string, Tensor][] = [["query", q], ["positive", p]];
    if (!isNce || withExtra) grads.push(["negative", n]);
    for (const [name, t] of grads) {
      using g = t.grad!;
      expect(maxRelDiff(g.toFloat32Array(), ref.grads[name]!)).toBeLessThan(1e-6);
    }
  });

  test("the cosine variant differs from the plain prob loss (the original's never-applied adjustment now applies)", async () => {
    using q = Tensor.from(query, [B, D]);
    using p = Tensor.from(positive, [B, D]);
    using n = Tensor.from(negative, [B, D]);
    using plain = await rankingLoss({ kind: "prob_margin_ranking", margin: 0.05 }, { query: q, positive: p, negative: n });
    using steep = await rankingLoss({ kind: "cosine_prob_margin_ranking", margin: 0.05 }, { query: q, positive: p, negative: n });
    expect(Math.abs(plain.toFloat32Array()[0]! - steep.toFloat32Array()[0]!)).toBeGreaterThan(0.01);
  });
});

describe("ranking loss arguments", () => {
  test("mismatched embedding widths are a ShapeError naming both inputs", async () => {
    using q = Tensor.from(new Float32Array(6), [2, 3]);
    using p = Tensor.from(new Float32Array(8), [2, 4]);
    await expect(rankingLoss({ kind: "cosine_margin" }, { query: q, positive: p, negative: q })).rejects.toThrow(
      expect.objectContaining({ name: "ShapeError", message: expect.stringMatching(/cosine_margin: positive has dim 4 but query has 3/) }),
    );
    await expect(rankingLoss({ kind: "cosine_margin" }, { query: q, positive: p, negative: q })).rejects.toBeInstanceOf(ShapeError);
  });

  test("an unknown loss, an unknown option and a missing negative are RangeErrors/TypeErrors naming them", async () => {
    using q = Tensor.from(new Float32Array(6), [2, 3]);
    await expect(rankingLoss({ kind: "triplet" } as never, { query: q, positive: q })).rejects.toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/kind must be one of cosine_margin, .* but received string "triplet"/) }),
    );
    await expect(rankingLoss({ kind: "info_nce", margin: 1 } as never, { query: q, positive: q })).rejects.toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/info_nce\): unknown option "margin"; it takes temperature/) }),
    );
    await expect(rankingLoss({ kind: "cosine_margin" }, { query: q, positive: q })).rejects.toThrow(
      expect.objectContaining({ name: "TypeError", message: expect.stringMatching(/cosine_margin\): negative must be a Tensor but received undefined/) }),
    );
  });

  test("backward on a loss with more than one element is a RangeError with its shape", async () => {
    using t = Tensor.from(new Float32Array(4), [2, 2], { requiresGrad: true });
    await expect(backward(t)).rejects.toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/one element, got shape \[2, 2\]/) }));
  });

  test("backward on a loss without a graph says how to get one", async () => {
    using t = Tensor.from(new Float32Array([1]), []);
    await expect(backward(t)).rejects.toThrow(expect.objectContaining({ name: "TorchError", message: expect.stringMatching(/no autograd graph; run forward with \{grad: true\}/) }));
  });

  test("a loss of embeddings made without a graph has no graph either", async () => {
    using q = Tensor.from(seededValues(1, 6), [2, 3]);
    using value = await rankingLoss({ kind: "cosine_margin", margin: 5 }, { query: q, positive: q, negative: q });
    expect(maxAbsDiff(value.toFloat32Array(), [5])).toBeLessThan(1e-6);  // cos(q,q) terms cancel: margin left
    expect(value.requiresGrad).toBe(false);
  });
});
