/**
 * Retrieval evaluation on clickstream sessions: every session's query ranks
 * the whole catalogue; the clicked items are the relevant ones (recall@k,
 * MRR, nDCG@10). A two-tower model ranks by cosine similarity; BM25 (the
 * lexical baseline) by its score. With logged scores, also EmbeddingStudio's
 * distance shifts. `evaluateHeldOut` reports the held-out slices separately:
 * unseen items (item-disjoint, the honest measure), seen items, unseen queries.
 */
import type { Tensor } from "../tensor";
import { Bm25Index, type Bm25Options } from "./bm25";
import type { ClickstreamSession } from "./clickstream/format";
import { heldOutSlices, type TrainingSeen } from "./clickstream/split";
import { distanceShift, rankByScore, retrievalMetrics, type Ranking } from "./metrics";
import type { EncodingModel } from "./training-module";

export interface EvaluateOptions {
  readonly ks?: readonly number[];
  /** Texts per forward. Default 64. */
  readonly batchSize?: number;
}

/** Scores every catalogue item (in `ids` order) for a query. */
interface Scorer {
  readonly ids: readonly string[];
  scores(query: string): ArrayLike<number>;
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

/** The model's cosine similarities: the catalogue and the sessions' distinct queries embedded once. */
async function modelScorer(model: EncodingModel, sessions: readonly ClickstreamSession[], catalogue: ReadonlyMap<string, string>, batchSize: number): Promise<Scorer> {
  const items = await embed([...catalogue.values()], (b) => model.encodeItems(b, { grad: false }), batchSize);
  const queries = [...new Set(sessions.map((s) => s.query))];
  const rows = await embed(queries, (b) => model.encodeQueries(b, { grad: false }), batchSize);
  const byQuery = new Map(queries.map((q, i) => [q, rows[i] as Float32Array]));
  return {
    ids: [...catalogue.keys()],
    scores: (query) => {
      const q = byQuery.get(query);
      if (q === undefined) throw new RangeError(`evaluate: query ${JSON.stringify(query)} was not embedded`);
      return Float32Array.from(items, (row) => dot(q, row));
    },
  };
}

function isRanked(s: ClickstreamSession): boolean {
  return !s.isIrrelevant && s.clicks.length > 0;
}

/** recall@k, MRR, nDCG@10 and "sessions" (the count ranked) over the sessions with clicks. */
function rankingMetrics(sessions: readonly ClickstreamSession[], scorer: Scorer, ks: readonly number[]): Record<string, number> {
  const rankings: Ranking[] = sessions.filter(isRanked).map((s) => ({ ranked: rankByScore(scorer.ids, scorer.scores(s.query)), relevant: new Set(s.clicks) }));
  return { ...retrievalMetrics(rankings, ks), sessions: rankings.length };
}

/** Mean distance shifts of the sessions with logged scores: "dist_shift" (with clicks), "irrelevant_dist_shift". */
function distanceShifts(sessions: readonly ClickstreamSession[], scorer: Scorer): Record<string, number> {
  const index = new Map(scorer.ids.map((id, i) => [id, i]));
  const shifts: number[] = [];
  const irrelevantShifts: number[] = [];
  for (const s of sessions) {
    if (s.results.length === 0 || !s.results.every((r) => r.score !== undefined) || !(s.isIrrelevant || s.clicks.length > 0)) continue;
    const all = scorer.scores(s.query);
    const scores = new Map(s.results.filter((r) => index.has(r.itemId)).map((r) => [r.itemId, all[index.get(r.itemId) as number] as number]));
    const usable = s.isIrrelevant ? scores.size === s.results.length : s.clicks.every((c) => scores.has(c));
    if (usable) (s.isIrrelevant ? irrelevantShifts : shifts).push(distanceShift(s, scores));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { ...(shifts.length > 0 ? { dist_shift: mean(shifts) } : {}), ...(irrelevantShifts.length > 0 ? { irrelevant_dist_shift: mean(irrelevantShifts) } : {}) };
}

/**
 * @returns "recall@k" for each k, "mrr", "ndcg@10", "sessions"; plus
 *   "dist_shift" / "irrelevant_dist_shift" when results carry logged scores.
 * @throws RangeError when no session has clicks.
 */
export async function evaluateRetrieval(model: EncodingModel, sessions: readonly ClickstreamSession[], catalogue: ReadonlyMap<string, string>, options: EvaluateOptions = {}): Promise<Record<string, number>> {
  const scorer = await modelScorer(model, sessions, catalogue, options.batchSize ?? 64);
  return { ...rankingMetrics(sessions, scorer, options.ks ?? [1, 5, 10]), ...distanceShifts(sessions, scorer) };
}

/** BM25 over the catalogue texts ranking the sessions' queries: recall@k, MRR, nDCG@10, "sessions". */
export function evaluateBm25(sessions: readonly ClickstreamSession[], catalogue: ReadonlyMap<string, string>, options: { readonly ks?: readonly number[] } & Bm25Options = {}): Record<string, number> {
  const index = new Bm25Index(catalogue, options);
  return rankingMetrics(sessions, { ids: index.ids, scores: (q) => index.scores(q) }, options.ks ?? [1, 5, 10]);
}

/** Metrics of each held-out slice ("sessions" among them); null for a slice without sessions. */
export interface HeldOutMetrics {
  /** Held-out sessions whose clicked items are no training positive: what fine-tuning should improve. */
  readonly itemDisjoint: Record<string, number> | null;
  /** Held-out sessions whose clicked items all are training positives: memory as much as learning. */
  readonly seenItems: Record<string, number> | null;
  /** Held-out sessions whose query no training session asked. */
  readonly unseenQueries: Record<string, number> | null;
  /** Every held-out session with clicks (plus the distance shifts of all, when scores were logged). */
  readonly all: Record<string, number>;
}

/**
 * Ranks the catalogue for every held-out session and reports each slice of
 * heldOutSlices(train, heldOut), read off the data (`train`: the training
 * sessions, or what training saw, seenInPairs): the model embeds the catalogue
 * and the queries once. With "bm25", BM25 ranks instead of a model.
 */
export async function evaluateHeldOut(
  model: EncodingModel | "bm25",
  data: { readonly train: readonly ClickstreamSession[] | TrainingSeen; readonly heldOut: readonly ClickstreamSession[] },
  catalogue: ReadonlyMap<string, string>,
  options: EvaluateOptions = {},
): Promise<HeldOutMetrics> {
  const ks = options.ks ?? [1, 5, 10];
  let scorer: Scorer;
  if (model === "bm25") {
    const index = new Bm25Index(catalogue);
    scorer = { ids: index.ids, scores: (q) => index.scores(q) };
  } else {
    scorer = await modelScorer(model, data.heldOut, catalogue, options.batchSize ?? 64);
  }
  const slices = heldOutSlices(data.train, data.heldOut);
  const slice = (sessions: readonly ClickstreamSession[]) => (sessions.length === 0 ? null : rankingMetrics(sessions, scorer, ks));
  return {
    itemDisjoint: slice(slices.unseenItems),
    seenItems: slice(slices.seenItems),
    unseenQueries: slice(slices.unseenQueries),
    all: { ...rankingMetrics(data.heldOut, scorer, ks), ...(model === "bm25" ? {} : distanceShifts(data.heldOut, scorer)) },
  };
}
