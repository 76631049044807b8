/**
 * Training pairs from sessions: (query, clicked item, shown-but-not-clicked
 * item). Every click of a session is paired with the session's shown items
 * that were not clicked, so a session where only some results were clicked
 * gives clicks x non-clicks pairs.
 */
import { describe } from "../../dtypes";
import { hash32, mulberry32, permutation } from "../random";
import type { ClickstreamSession } from "./format";

export interface TrainingPair {
  readonly sessionId: string;
  readonly query: string;
  readonly positiveId: string;
  readonly negativeId: string;
  readonly positive: string;
  readonly negative: string;
}

export interface PairOptions {
  /** At most this many negatives per click, sampled with `seed`. Default: all. */
  readonly maxNegativesPerClick?: number;
  /** Only results ranked above the click count as negatives (they were seen and skipped). Default false. */
  readonly negativesAboveClickOnly?: boolean;
  readonly seed?: number;
}

export interface PairsResult {
  readonly pairs: TrainingPair[];
  /** Sessions that gave no pairs, by reason. */
  readonly skipped: { readonly irrelevant: number; readonly noNegatives: number };
}

/**
 * @param catalogue item id -> text (see catalogueFromSessions / readCatalogue).
 * @throws RangeError naming the session and item when an item has no text.
 */
export function makePairs(sessions: readonly ClickstreamSession[], catalogue: ReadonlyMap<string, string>, options: PairOptions = {}): PairsResult {
  const max = options.maxNegativesPerClick;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) throw new RangeError(`makePairs: maxNegativesPerClick must be an integer >= 1 but received ${describe(max)}`);
  const random = mulberry32(hash32(options.seed ?? 0, 0x9a125));
  const pairs: TrainingPair[] = [];
  let irrelevant = 0;
  let noNegatives = 0;
  const text = (s: ClickstreamSession, id: string) => {
    const t = catalogue.get(id);
    if (t === undefined) throw new RangeError(`makePairs: session ${s.sessionId}: item ${id} has no text in the catalogue`);
    return t;
  };
  for (const s of sessions) {
    if (s.isIrrelevant || s.clicks.length === 0) {
      irrelevant++;
      continue;
    }
    const clicked = new Set(s.clicks);
    const before = pairs.length;
    for (const click of s.clicks) {
      const clickRank = s.results.findIndex((r) => r.itemId === click);
      let negatives = s.results.filter((r, i) => !clicked.has(r.itemId) && (!options.negativesAboveClickOnly || i < clickRank)).map((r) => r.itemId);
      if (max !== undefined && negatives.length > max) negatives = permutation(negatives.length, random).slice(0, max).sort((a, b) => a - b).map((i) => negatives[i] as string);
      for (const n of negatives) pairs.push({ sessionId: s.sessionId, query: s.query, positiveId: click, negativeId: n, positive: text(s, click), negative: text(s, n) });
    }
    if (pairs.length === before) noNegatives++;
  }
  return { pairs, skipped: { irrelevant, noNegatives } };
}
