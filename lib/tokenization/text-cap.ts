/**
 * The cap on a text's length before tokenizing: tokenization is synchronous
 * and linear in the text (about 1.7 µs a character on one core), so an
 * uncapped 1 MB query blocked the event loop for ~1.7 s to keep 510 tokens.
 * A text is cut to {@link CHARS_PER_TOKEN} characters per token of room,
 * on the side truncation cuts, never inside a surrogate pair.
 *
 * The cut changes nothing when the kept tokens come from the kept characters:
 * natural text averages 3-5 characters a token (WordPiece turns a word over
 * 100 characters into one [UNK]); text that is mostly whitespace, or 100-char
 * words, may keep fewer tokens than maxLength.
 */
import type { Side } from "./truncation";

/** Characters kept per token of room: about 3x natural text's average. */
export const CHARS_PER_TOKEN = 12;

/** The longest text (UTF-16 code units) tokenized for `room` tokens. */
export function charLimit(room: number): number {
  return Number.isFinite(room) ? Math.max(1, room) * CHARS_PER_TOKEN : Infinity;
}

/** `text` cut to charLimit(room) code units on `side` ("right" keeps the start). */
export function capText(text: string, room: number, side: Side): string {
  const limit = charLimit(room);
  if (text.length <= limit) return text;
  if (side === "right") {
    let end = limit;
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end -= 1;  // a high surrogate whose pair would be cut off
    return text.slice(0, end);
  }
  let start = text.length - limit;
  const first = text.charCodeAt(start);
  if (first >= 0xdc00 && first <= 0xdfff) start += 1;  // a low surrogate whose pair would be cut off
  return text.slice(start);
}
