/**
 * Train/validation split of clickstream sessions: whole sessions go to one
 * side, chosen by a seeded shuffle, so no session is in both.
 */
import { describe } from "../../dtypes";
import { hash32, mulberry32, permutation } from "../random";
import type { ClickstreamSession } from "./format";

export interface SplitOptions {
  /** Share of sessions for validation, in (0, 1). Default 0.2. */
  readonly validationFraction?: number;
  readonly seed?: number;
  /**
   * Keep the items clicked in validation sessions out of training: they are
   * removed from every training session's results and clicks, and a training
   * session left without clicks is dropped. Validation then measures
   * retrieval of items the model never saw as a positive or a negative.
   * Default false.
   */
  readonly preventItemLeakage?: boolean;
  /** Drop irrelevant sessions (is_irrelevant, or no clicks) before splitting. Default false. */
  readonly dropIrrelevant?: boolean;
}

export interface ClickstreamSplit {
  readonly train: ClickstreamSession[];
  readonly validation: ClickstreamSession[];
  /** Irrelevant sessions dropped by `dropIrrelevant`. */
  readonly droppedIrrelevant: number;
  /** Training sessions dropped because every click was a validation item. */
  readonly droppedForLeakage: number;
}

export function splitSessions(sessions: readonly ClickstreamSession[], options: SplitOptions = {}): ClickstreamSplit {
  const fraction = options.validationFraction ?? 0.2;
  if (typeof fraction !== "number" || !(fraction > 0 && fraction < 1)) throw new RangeError(`splitSessions: validationFraction must be in (0, 1) but received ${describe(fraction)}`);
  const kept = options.dropIrrelevant ? sessions.filter((s) => !s.isIrrelevant) : [...sessions];
  const order = permutation(kept.length, mulberry32(hash32(options.seed ?? 0, 0x5e551)));
  const validationCount = Math.max(1, Math.round(kept.length * fraction));
  if (kept.length < 2) throw new RangeError(`splitSessions: need at least 2 sessions to split, have ${kept.length}`);
  const validation = order.slice(0, validationCount).map((i) => kept[i] as ClickstreamSession);
  let train = order.slice(validationCount).map((i) => kept[i] as ClickstreamSession);
  let droppedForLeakage = 0;
  if (options.preventItemLeakage) {
    const held = new Set(validation.filter((s) => !s.isIrrelevant).flatMap((s) => s.clicks));
    train = train.flatMap((s) => {
      const results = s.results.filter((r) => !held.has(r.itemId));
      const clicks = s.clicks.filter((c) => !held.has(c));
      if (s.clicks.length > 0 && clicks.length === 0) {
        droppedForLeakage++;
        return [];
      }
      return [{ ...s, results, clicks }];
    });
  }
  return { train, validation, droppedIrrelevant: sessions.length - kept.length, droppedForLeakage };
}
