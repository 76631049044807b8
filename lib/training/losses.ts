/**
 * Ranking losses on embeddings, computed natively with autograd
 * (native/losses.h has the formulas). Each resolves with a scalar float32
 * tensor whose graph reaches the models' parameters when the embeddings came
 * from a forward with `{grad: true}`.
 */
import { describe } from "../dtypes";
import { nativeAsync } from "../errors";
import { native } from "../native";
import { Tensor } from "../tensor";

/**
 * - `cosine_margin`: mean(relu(margin - cos(q, pos) + cos(q, neg))); margin 0.2.
 * - `prob_margin_ranking`: EmbeddingStudio's ProbMarginRankingLoss on cosine
 *   similarities: mean(sigmoid(margin - (cos(q, pos) - cos(q, neg))) * min(cp, cn)); margin 1.
 * - `cosine_prob_margin_ranking`: its cosine variant as intended (the original
 *   never applied it: a name-mangled `__adjust` override):
 *   mean(sigmoid(scale * (margin - (cos(q, pos) - cos(q, neg))) - shift) * min(cp, cn));
 *   margin 0.05, scale 400, shift 6.
 * - `info_nce`: in-batch InfoNCE, cross-entropy over cos(q_i, c_j) / temperature
 *   with c = the batch's positives, then any extra negatives; temperature 0.05.
 */
export type RankingLoss =
  | { readonly kind: "cosine_margin"; readonly margin?: number }
  | { readonly kind: "prob_margin_ranking"; readonly margin?: number }
  | { readonly kind: "cosine_prob_margin_ranking"; readonly margin?: number; readonly scale?: number; readonly shift?: number }
  | { readonly kind: "info_nce"; readonly temperature?: number };

export type RankingLossKind = RankingLoss["kind"];

export const RANKING_LOSSES: readonly RankingLossKind[] = ["cosine_margin", "prob_margin_ranking", "cosine_prob_margin_ranking", "info_nce"];

/** Embeddings for a loss: [B, D] each (`negative` [M, D] for info_nce: extra negatives). */
export interface LossInputs {
  readonly query: Tensor;
  readonly positive: Tensor;
  readonly negative?: Tensor;
  /** [B] weights of each pair's positive (e.g. click confidence); with negativeConfidence, min of both. */
  readonly positiveConfidence?: Tensor;
  readonly negativeConfidence?: Tensor;
}

const OPTION_KEYS: Readonly<Record<RankingLossKind, readonly string[]>> = {
  cosine_margin: ["margin"],
  prob_margin_ranking: ["margin"],
  cosine_prob_margin_ranking: ["margin", "scale", "shift"],
  info_nce: ["temperature"],
};

function tensorArg(value: unknown, what: string): Tensor {
  if (!(value instanceof Tensor)) throw new TypeError(`${what} must be a Tensor but received ${describe(value)}`);
  return value;
}

/**
 * Computes a ranking loss off the JS thread.
 * @throws TypeError/RangeError for a bad loss description or inputs;
 *   ShapeError when the embeddings' shapes do not fit each other.
 */
export async function rankingLoss(loss: RankingLoss, inputs: LossInputs): Promise<Tensor> {
  if (typeof loss !== "object" || loss === null || !RANKING_LOSSES.includes(loss.kind))
    throw new RangeError(`rankingLoss: kind must be one of ${RANKING_LOSSES.join(", ")} but received ${describe((loss as { kind?: unknown } | null)?.kind)}`);
  const what = `rankingLoss(${loss.kind})`;
  const options: Record<string, number> = {};
  for (const [key, value] of Object.entries(loss)) {
    if (key === "kind" || value === undefined) continue;
    if (!OPTION_KEYS[loss.kind].includes(key)) throw new RangeError(`${what}: unknown option "${key}"; it takes ${OPTION_KEYS[loss.kind].join(", ")}`);
    if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError(`${what}: ${key} must be a finite number but received ${describe(value)}`);
    options[key] = value;
  }
  if (loss.kind === "info_nce" && options.temperature !== undefined && options.temperature <= 0)
    throw new RangeError(`${what}: temperature must be > 0 but received ${options.temperature}`);
  const tensors = [tensorArg(inputs.query, `${what}: query`), tensorArg(inputs.positive, `${what}: positive`)];
  if (loss.kind === "info_nce") {
    if (inputs.negative !== undefined) tensors.push(tensorArg(inputs.negative, `${what}: negative`));
    if (inputs.positiveConfidence !== undefined || inputs.negativeConfidence !== undefined)
      throw new RangeError(`${what}: confidences are not used by info_nce; leave them out`);
  } else {
    tensors.push(tensorArg(inputs.negative, `${what}: negative`));
    const hasP = inputs.positiveConfidence !== undefined;
    if (hasP !== (inputs.negativeConfidence !== undefined)) throw new RangeError(`${what}: give both positiveConfidence and negativeConfidence, or neither`);
    if (hasP) {
      if (loss.kind === "cosine_margin") throw new RangeError(`${what}: confidences are not used by cosine_margin; leave them out`);
      tensors.push(tensorArg(inputs.positiveConfidence, `${what}: positiveConfidence`), tensorArg(inputs.negativeConfidence, `${what}: negativeConfidence`));
    }
  }
  const handles = tensors.map((t) => t.native);
  return Tensor.fromNative(await nativeAsync(() => native().loss(loss.kind, handles, options)));
}
