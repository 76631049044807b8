/**
 * Truncation of the texts' own tokens to the room a layout leaves after its
 * special tokens, as Hugging Face does it (Rust `tokenizers`,
 * utils/truncation.rs, strategy LongestFirst, stride 0).
 */

/** Which end of a text loses tokens ("right" keeps the start, Hugging Face's default). */
export type Side = "left" | "right";

/**
 * Token counts to keep for a pair under LongestFirst: nothing is cut when
 * both fit; otherwise the longer text is cut first, and when both must be
 * cut each keeps about half of `room` (the first text the smaller half when
 * it was not longer).
 *
 * @param n1 number of tokens of the first text.
 * @param n2 number of tokens of the second text.
 * @param room how many tokens both may keep together.
 * @returns `[kept1, kept2]`.
 */
export function keptPairLengths(n1: number, n2: number, room: number): [number, number] {
  if (n1 + n2 <= room) return [n1, n2];
  const swap = n1 > n2;
  let short = swap ? n2 : n1;
  let long = short > room ? short : Math.max(short, room - short);
  if (short + long > room) {
    short = Math.floor(room / 2);
    long = short + (room % 2);
  }
  const [kept1, kept2] = swap ? [long, short] : [short, long];
  return [Math.min(n1, kept1), Math.min(n2, kept2)];
}

/** The `[start, end)` of the `kept` tokens of a text of `length` tokens cut on `side`. */
export function keptRange(length: number, kept: number, side: Side): { start: number; end: number } {
  return side === "right" ? { start: 0, end: kept } : { start: length - kept, end: length };
}
