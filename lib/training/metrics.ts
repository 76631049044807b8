/**
 * Ranking metrics over item ids ranked best first, with binary relevance
 * (the clicked items), and EmbeddingStudio's distance shift.
 */
import type { ClickstreamSession } from "./clickstream/format";

function checkK(k: number, what: string): void {
  if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`${what}: k must be an integer >= 1 but received ${k}`);
}

function checkRelevant(relevant: ReadonlySet<string>, what: string): void {
  if (relevant.size === 0) throw new RangeError(`${what}: no relevant items; leave sessions without clicks out of ranking metrics`);
}

/** Share of the relevant items found in the top k: |top-k ∩ relevant| / |relevant|. */
export function recallAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  checkK(k, "recallAtK");
  checkRelevant(relevant, "recallAtK");
  let found = 0;
  for (const id of ranked.slice(0, k)) if (relevant.has(id)) found++;
  return found / relevant.size;
}

/** 1 / (1-based position of the first relevant item), 0 when none is ranked. Averaged: MRR. */
export function reciprocalRank(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  checkRelevant(relevant, "reciprocalRank");
  const index = ranked.findIndex((id) => relevant.has(id));
  return index < 0 ? 0 : 1 / (index + 1);
}

/**
 * nDCG@k with binary gains: DCG = Σ_{i<k, ranked[i] relevant} 1 / log2(i + 2),
 * divided by the DCG of the ideal ranking (all relevant items first).
 */
export function ndcgAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k = 10): number {
  checkK(k, "ndcgAtK");
  checkRelevant(relevant, "ndcgAtK");
  let dcg = 0;
  ranked.slice(0, k).forEach((id, i) => {
    if (relevant.has(id)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return dcg / ideal;
}

/** Ids ordered by descending score; ties keep the ids' order. */
export function rankByScore(ids: readonly string[], scores: ArrayLike<number>): string[] {
  if (ids.length !== scores.length) throw new RangeError(`rankByScore: ${ids.length} ids but ${scores.length} scores`);
  return ids
    .map((id, i) => ({ id, i, s: scores[i] as number }))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .map((e) => e.id);
}

export interface Ranking {
  readonly ranked: readonly string[];
  readonly relevant: ReadonlySet<string>;
}

/** Means over rankings of recall@k for each k, MRR and nDCG@10; keys "recall@10", "mrr", "ndcg@10". */
export function retrievalMetrics(rankings: readonly Ranking[], ks: readonly number[] = [1, 5, 10]): Record<string, number> {
  if (rankings.length === 0) throw new RangeError("retrievalMetrics: no rankings (no session with clicks?)");
  const sums: Record<string, number> = {};
  const add = (key: string, value: number) => (sums[key] = (sums[key] ?? 0) + value);
  for (const r of rankings) {
    for (const k of ks) add(`recall@${k}`, recallAtK(r.ranked, r.relevant, k));
    add("mrr", reciprocalRank(r.ranked, r.relevant));
    add("ndcg@10", ndcgAtK(r.ranked, r.relevant, 10));
  }
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / rankings.length]));
}

/**
 * EmbeddingStudio's distance shift of one session, for a similarity score
 * (higher = closer): how much the model's scores moved since the session was
 * logged. For a session with clicks, the mean over clicked items of
 * (new score - logged score): positive when clicked items came closer. For an
 * irrelevant session, the mean over all shown results of (logged - new):
 * positive when the irrelevant results moved away. (The original zipped
 * result ids with scores computed in another order for irrelevant sessions;
 * here each score is matched by item id.)
 * @throws RangeError when a needed logged score or new score is missing.
 */
export function distanceShift(session: ClickstreamSession, newScores: ReadonlyMap<string, number>): number {
  const ids = session.isIrrelevant ? session.results.map((r) => r.itemId) : session.clicks;
  if (ids.length === 0) throw new RangeError(`distanceShift(${session.sessionId}): the session has no ${session.isIrrelevant ? "results" : "clicks"}`);
  const logged = new Map(session.results.map((r) => [r.itemId, r.score]));
  let sum = 0;
  for (const id of ids) {
    const before = logged.get(id);
    const after = newScores.get(id);
    if (before === undefined) throw new RangeError(`distanceShift(${session.sessionId}): result ${id} has no logged score; the clickstream needs "score" on results`);
    if (after === undefined) throw new RangeError(`distanceShift(${session.sessionId}): no new score for item ${id}`);
    sum += session.isIrrelevant ? before - after : after - before;
  }
  return sum / ids.length;
}
