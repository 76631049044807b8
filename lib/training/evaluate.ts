/**
 * Retrieval evaluation of a two-tower model on clickstream sessions: every
 * session's query ranks the whole catalogue by cosine similarity; the clicked
 * items are the relevant ones (recall@k, MRR, nDCG@10). With logged scores,
 * also EmbeddingStudio's distance shifts.
 */
import type { Tensor } from "../tensor";
import type { ClickstreamSession } from "./clickstream/format";
import { distanceShift, rankByScore, retrievalMetrics, type Ranking } from "./metrics";
import type { EncodingModel } from "./training-module";

export interface EvaluateOptions {
  readonly ks?: readonly number[];
  /** Texts per forward. Default 64. */
  readonly batchSize?: number;
}

/** Rows of an [n, dim] embedding matrix, L2-normalised. */
async function embed(texts: readonly string[], encode: (batch: readonly string[]) => Promise<Tensor>, batchSize: number): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += batchSize) {
    const t = await encode(texts.slice(i, i + batchSize));
    const [n, dim] = t.shape as [number, number];
    const data = t.toFloat32Array();
    t.dispose();
    for (let r = 0; r < n; r++) {
      const row = data.slice(r * dim, (r + 1) * dim);
      let norm = 0;
      for (const v of row) norm += v * v;
      norm = Math.sqrt(norm) || 1;
      for (let c = 0; c < dim; c++) row[c] = (row[c] as number) / norm;
      rows.push(row);
    }
  }
  return rows;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/**
 * @returns "recall@k" for each k, "mrr", "ndcg@10", "sessions"; plus
 *   "dist_shift" / "irrelevant_dist_shift" when results carry logged scores.
 */
export async function evaluateRetrieval(model: EncodingModel, sessions: readonly ClickstreamSession[], catalogue: ReadonlyMap<string, string>, options: EvaluateOptions = {}): Promise<Record<string, number>> {
  const batchSize = options.batchSize ?? 64;
  const ids = [...catalogue.keys()];
  const items = await embed([...catalogue.values()], (b) => model.encodeItems(b, { grad: false }), batchSize);
  const index = new Map(ids.map((id, i) => [id, i]));
  const queries = [...new Set(sessions.map((s) => s.query))];
  const queryRows = await embed(queries, (b) => model.encodeQueries(b, { grad: false }), batchSize);
  const queryIndex = new Map(queries.map((q, i) => [q, i]));
  const rankings: Ranking[] = [];
  const shifts: number[] = [];
  const irrelevantShifts: number[] = [];
  for (const s of sessions) {
    const q = queryRows[queryIndex.get(s.query) as number] as Float32Array;
    const withScores = s.results.length > 0 && s.results.every((r) => r.score !== undefined);
    if (withScores) {
      const scores = new Map(s.results.filter((r) => index.has(r.itemId)).map((r) => [r.itemId, dot(q, items[index.get(r.itemId) as number] as Float32Array)]));
      const usable = s.isIrrelevant ? scores.size === s.results.length : s.clicks.every((c) => scores.has(c));
      if (usable && (s.isIrrelevant || s.clicks.length > 0)) (s.isIrrelevant ? irrelevantShifts : shifts).push(distanceShift(s, scores));
    }
    if (s.isIrrelevant || s.clicks.length === 0) continue;
    const scores = items.map((row) => dot(q, row));
    rankings.push({ ranked: rankByScore(ids, scores), relevant: new Set(s.clicks) });
  }
  const metrics = retrievalMetrics(rankings, options.ks ?? [1, 5, 10]);
  metrics.sessions = rankings.length;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (shifts.length > 0) metrics.dist_shift = mean(shifts);
  if (irrelevantShifts.length > 0) metrics.irrelevant_dist_shift = mean(irrelevantShifts);
  return metrics;
}
