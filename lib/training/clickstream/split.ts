/**
 * Train/held-out split of clickstream sessions: whole sessions go to one
 * side, chosen by a seeded shuffle, so no session is in both.
 *
 * By default the split is item-disjoint: a user who fine-tunes wants to know
 * whether the model ranks better for items it has not trained on, and a
 * random session split answers another question (most held-out sessions then
 * click items that are also training positives: memory, not generalization).
 */
import { describe } from "../../dtypes";
import { hash32, mulberry32, permutation } from "../random";
import type { ClickstreamSession } from "./format";

export interface SplitOptions {
  /**
   * Share of the sessions with clicks held out as unseen-item sessions, in
   * (0, 1); the same share of the sessions without clicks is held out too.
   * Default 0.2.
   */
  readonly validationFraction?: number;
  /**
   * Share of the sessions with clicks also held out as seen-item sessions:
   * their clicked items stay positives of other training sessions, so the
   * held-out set can compare unseen with seen items. In [0, 1). Default 0.05
   * (item-disjoint split only).
   */
  readonly seenItemsFraction?: number;
  readonly seed?: number;
  /**
   * true (default): item-disjoint. Held-out items are chosen by growing a set
   * from the clicks of shuffled sessions; every session whose clicks all lie
   * in the set is held out, until `validationFraction` of the sessions with
   * clicks are. The set's items are removed from every training session's
   * results and clicks (a training session left without clicks is dropped),
   * so the model never sees them as a positive or a negative.
   * false: a random session split; held-out sessions may click items that are
   * training positives (a measure of memory; heldOutSlices tells them apart).
   */
  readonly preventItemLeakage?: boolean;
  /** Drop irrelevant sessions (is_irrelevant, or no clicks) before splitting. Default false. */
  readonly dropIrrelevant?: boolean;
}

export interface ClickstreamSplit {
  readonly train: ClickstreamSession[];
  /** Every held-out session: unseen-item sessions, then seen-item ones, then those without clicks. */
  readonly validation: ClickstreamSession[];
  /** Irrelevant sessions dropped by `dropIrrelevant`. */
  readonly droppedIrrelevant: number;
  /** Training sessions dropped because every click was a held-out item. */
  readonly droppedForLeakage: number;
}

/** Held-out sessions grouped by what training saw; each group is read off the data, not taken from the split's word. */
export interface HeldOutSlices {
  /** Sessions none of whose clicked items is a training positive (item-disjoint). */
  readonly unseenItems: ClickstreamSession[];
  /** Sessions all of whose clicked items are training positives. */
  readonly seenItems: ClickstreamSession[];
  /** Sessions whose query (trimmed, lowercased) no training session asked. */
  readonly unseenQueries: ClickstreamSession[];
}

const hasClicks = (s: ClickstreamSession) => !s.isIrrelevant && s.clicks.length > 0;
const normalQuery = (q: string) => q.trim().toLowerCase();

/** What training showed the model as relevant: its positive items and its queries. */
export interface TrainingSeen {
  readonly positives: ReadonlySet<string>;
  /** Trimmed and lowercased. */
  readonly queries: ReadonlySet<string>;
}

/** The clicked items of the training sessions that makePairs pairs (with clicks, not marked irrelevant), and every training query. */
export function seenInSessions(train: readonly ClickstreamSession[]): TrainingSeen {
  return { positives: new Set(train.filter(hasClicks).flatMap((s) => s.clicks)), queries: new Set(train.map((s) => normalQuery(s.query))) };
}

/** The positives and queries of training pairs (what the Trainer saw, when no sessions are at hand). */
export function seenInPairs(pairs: readonly { readonly query: string; readonly positiveId: string }[]): TrainingSeen {
  return { positives: new Set(pairs.map((p) => p.positiveId)), queries: new Set(pairs.map((p) => normalQuery(p.query))) };
}

/** Groups the held-out sessions with clicks by whether training saw their clicked items and queries. */
export function heldOutSlices(seen: TrainingSeen | readonly ClickstreamSession[], heldOut: readonly ClickstreamSession[]): HeldOutSlices {
  const { positives, queries } = Array.isArray(seen) ? seenInSessions(seen as readonly ClickstreamSession[]) : (seen as TrainingSeen);
  const clicked = heldOut.filter(hasClicks);
  return {
    unseenItems: clicked.filter((s) => s.clicks.every((c) => !positives.has(c))),
    seenItems: clicked.filter((s) => s.clicks.every((c) => positives.has(c))),
    unseenQueries: clicked.filter((s) => !queries.has(normalQuery(s.query))),
  };
}

function checkFraction(value: unknown, what: string, lowInclusive: boolean): number {
  if (typeof value !== "number" || !(lowInclusive ? value >= 0 : value > 0) || !(value < 1))
    throw new RangeError(`splitSessions: ${what} must be in ${lowInclusive ? "[" : "("}0, 1) but received ${describe(value)}`);
  return value;
}

/**
 * The held-out item set, grown from the clicks of sessions in `order` until
 * `target` sessions have all their clicks in it; returns the set and those sessions (as indices).
 */
function growHeldOutItems(kept: readonly ClickstreamSession[], order: readonly number[], target: number): { items: Set<string>; held: number[] } {
  const clickers = new Map<string, number[]>();
  const missing = new Map<number, number>();  // session -> its clicked items not yet held out
  for (const i of order) {
    const s = kept[i] as ClickstreamSession;
    if (!hasClicks(s)) continue;
    missing.set(i, s.clicks.length);
    for (const c of s.clicks) {
      const list = clickers.get(c);
      if (list) list.push(i);
      else clickers.set(c, [i]);
    }
  }
  const items = new Set<string>();
  const held: number[] = [];
  for (const i of order) {
    if (held.length >= target) break;
    if (!missing.has(i) || missing.get(i) === 0) continue;
    for (const c of (kept[i] as ClickstreamSession).clicks) {
      if (items.has(c)) continue;
      items.add(c);
      for (const j of clickers.get(c) ?? []) {
        const left = (missing.get(j) as number) - 1;
        missing.set(j, left);
        if (left === 0) held.push(j);
      }
    }
  }
  return { items, held };
}

/**
 * Moves training sessions out, in `random` order, until `target`: those whose
 * clicks the item-disjoint step left alone and whose clicked items all stay
 * positives of other training sessions.
 */
function takeSeenItemSessions(train: readonly ClickstreamSession[], untouched: ReadonlySet<ClickstreamSession>, target: number, random: () => number): { train: ClickstreamSession[]; seen: ClickstreamSession[] } {
  const count = new Map<string, number>();
  for (const s of train.filter(hasClicks)) for (const c of s.clicks) count.set(c, (count.get(c) ?? 0) + 1);
  const taken = new Set<number>();
  for (const i of permutation(train.length, random)) {
    if (taken.size >= target) break;
    const s = train[i] as ClickstreamSession;
    if (!untouched.has(s) || !hasClicks(s) || !s.clicks.every((c) => (count.get(c) ?? 0) >= 2)) continue;
    for (const c of s.clicks) count.set(c, (count.get(c) as number) - 1);
    taken.add(i);
  }
  return { train: train.filter((_, i) => !taken.has(i)), seen: train.filter((_, i) => taken.has(i)) };
}

export function splitSessions(sessions: readonly ClickstreamSession[], options: SplitOptions = {}): ClickstreamSplit {
  const fraction = checkFraction(options.validationFraction ?? 0.2, "validationFraction", false);
  const seenFraction = checkFraction(options.seenItemsFraction ?? 0.05, "seenItemsFraction", true);
  const kept = options.dropIrrelevant ? sessions.filter((s) => !s.isIrrelevant) : [...sessions];
  if (kept.length < 2) throw new RangeError(`splitSessions: need at least 2 sessions to split, have ${kept.length}`);
  const seed = options.seed ?? 0;
  const order = permutation(kept.length, mulberry32(hash32(seed, 0x5e551)));
  const droppedIrrelevant = sessions.length - kept.length;
  if (options.preventItemLeakage === false) {
    const validationCount = Math.max(1, Math.round(kept.length * fraction));
    const at = (i: number) => kept[i] as ClickstreamSession;
    return { train: order.slice(validationCount).map(at), validation: order.slice(0, validationCount).map(at), droppedIrrelevant, droppedForLeakage: 0 };
  }
  const clickedCount = kept.filter(hasClicks).length;
  const { items, held } = growHeldOutItems(kept, order, Math.max(1, Math.round(clickedCount * fraction)));
  const heldSet = new Set(held);
  const quiet = order.filter((i) => !hasClicks(kept[i] as ClickstreamSession));
  const quietHeld = new Set(quiet.slice(0, Math.round(quiet.length * fraction)));
  let droppedForLeakage = 0;
  const untouched = new Set<ClickstreamSession>();  // training sessions that lost no click: the seen-item candidates
  const candidates = order.flatMap((i) => {
    const s = kept[i] as ClickstreamSession;
    if (heldSet.has(i) || quietHeld.has(i)) return [];
    const clicks = s.clicks.filter((c) => !items.has(c));
    if (s.clicks.length > 0 && clicks.length === 0) {
      droppedForLeakage++;
      return [];
    }
    const trained = { ...s, results: s.results.filter((r) => !items.has(r.itemId)), clicks };
    if (clicks.length === s.clicks.length) untouched.add(trained);
    return [trained];
  });
  const { train, seen } = takeSeenItemSessions(candidates, untouched, Math.round(clickedCount * seenFraction), mulberry32(hash32(seed, 0x5ee4)));
  const at = (i: number) => kept[i] as ClickstreamSession;
  return { train, validation: [...held.map(at), ...seen, ...[...quietHeld].map(at)], droppedIrrelevant, droppedForLeakage };
}
