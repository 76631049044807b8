/**
 * The ids `@huggingface/tokenizers` gives a printable-ASCII text under CLIP's
 * tokenizer (openai/clip-vit-*: NFC, whitespace runs to a space, lowercase;
 * CLIP's Split regex then ByteLevel; BPE with the "</w>" word suffix),
 * computed from char codes with a cache of words: the same ids, a fraction
 * of the work. The library spends ~0.18 ms on a 16-token query right after
 * a forward (Unicode-property regexes, NFC, a TextEncoder per word, a
 * priority queue per word; bench/README.md, "What a query costs besides its
 * forward").
 *
 * On printable ASCII (U+0020-U+007E) those components reduce to:
 * - The normalizer (CLIP's: NFC, `\s+` to a space, Lowercase): as
 *   ascii-text.ts `asciiNormalizer` applies it (on such text, lowercasing
 *   and collapsing spaces). Its output is printable ASCII again.
 * - Split (`'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
 *   matches kept, the rest removed): at each position, an apostrophe with
 *   one of those endings, else a run of letters, a single digit, or a run
 *   of characters that are neither letters, digits nor spaces (apostrophes
 *   included); spaces are dropped.
 * - ByteLevel (GPT-2's regex, then bytes to characters): leaves each such
 *   word whole (it holds no space, and its letters, digits or symbols are
 *   one of that regex's classes), and bytes 0x21-0x7E map to themselves.
 * - BPE: the word's characters, the last with `end_of_word_suffix`; the
 *   pair of adjacent symbols with the lowest merge rank is joined, the
 *   leftmost on a tie, until no pair has a rank (with `ignore_merges`, a
 *   word in the vocabulary stays whole). A symbol outside the vocabulary
 *   (which the library extends with the added tokens) becomes the unknown
 *   token, or nothing when there is none.
 * - Token to id: an added token's id first, then the vocabulary's.
 *
 * A text is left to the library (null) when it holds any other character or
 * contains an added token's text, and a tokenizer whose configuration has
 * anything else (byte fallback, dropout, subword affixes, fused unknowns,
 * another pre-tokenizer) gets no fast path at all.
 * test/unit/tokenization.test.ts checks the ids against the library's on
 * thousands of generated texts.
 */
import type { Tokenizer } from "@huggingface/tokenizers";
import { asciiAddedTokens, asciiNormalizer, takenText, tokenId, type ContentIds } from "./ascii-text";
import { isJsonObject, type JsonObject } from "./read-json-file";

/** CLIP's Split pattern, as its tokenizer.json spells it. */
export const CLIP_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** Words remembered with their ids; the cache is emptied when full. */
const CACHED_WORDS = 10_000;

/** The fast path of `tokenizer` (built from `tokenizerJson` and `config`), or null when its components are not exactly CLIP's. */
export function asciiClipBpe(tokenizerJson: JsonObject, config: JsonObject, tokenizer: Tokenizer): ContentIds | null {
  const { normalizer, pre_tokenizer: preTokenizer, model } = tokenizerJson;
  const normalizeAscii = asciiNormalizer(normalizer);
  if (normalizeAscii === null || !isClipPreTokenizer(preTokenizer)) return null;
  if (!isJsonObject(model) || model["type"] !== "BPE") return null;
  // Text rewrites the library applies before the normalizer (read from tokenizer_config.json).
  if (config["remove_space"] === true || config["do_lowercase_and_remove_accent"] === true) return null;
  if (model["byte_fallback"] === true || model["fuse_unk"] === true || (model["dropout"] ?? null) !== null) return null;
  if (!absent(model["continuing_subword_prefix"]) || !absent(model["continuing_subword_suffix"])) return null;
  const suffix = model["end_of_word_suffix"] ?? "";
  const unk = model["unk_token"] ?? null;
  if (typeof suffix !== "string" || (unk !== null && typeof unk !== "string")) return null;
  const ignoreMerges = model["ignore_merges"] === true;
  const ranks = mergeRanks(model["merges"]);
  if (ranks === null) return null;

  const normalize = normalizeAscii;
  const addedTokens = asciiAddedTokens(tokenizer, normalize);
  if (addedTokens === null) return null;
  const added = addedTokens;
  let unkId: number | null = null;
  if (unk !== null) {
    const id = tokenId(unk, tokenizer, added);
    if (id === undefined) return null;
    unkId = id;
  }
  const cache = new Map<string, readonly number[]>();

  return (text) => {
    const normalized = takenText(text, normalize, added);
    if (normalized === null) return null;
    const ids: number[] = [];
    const n = normalized.length;
    for (let i = 0; i < n; ) {
      const c = normalized.charCodeAt(i);
      if (c === SPACE) {
        i++;
        continue;
      }
      let end = i + 1;
      if (isLetter(c)) {
        while (end < n && isLetter(normalized.charCodeAt(end))) end++;
      } else if (!isDigit(c)) {
        end = contractionEnd(normalized, i);
        if (end === i) {
          end = i + 1;
          while (end < n && isSymbol(normalized.charCodeAt(end))) end++;
        }
      }
      const word = normalized.slice(i, end);
      let wordIds = cache.get(word);
      if (wordIds === undefined) {
        wordIds = encodeWord(word);
        if (cache.size >= CACHED_WORDS) cache.clear();
        cache.set(word, wordIds);
      }
      for (const id of wordIds) ids.push(id);
      i = end;
    }
    return ids;
  };

  /** One word's ids: its BPE symbols, each mapped as the library maps it. */
  function encodeWord(word: string): number[] {
    const symbols = ignoreMerges && tokenizer.token_to_id(word) !== undefined ? [word] : merge(word);
    const ids: number[] = [];
    for (const symbol of symbols) {
      // The library asks its vocabulary (added tokens included) whether the symbol exists, then maps it.
      const known = tokenizer.token_to_id(symbol);
      if (known !== undefined) ids.push(added.ids.get(symbol) ?? known);
      else if (unkId !== null) ids.push(unkId);
    }
    return ids;
  }

  /** The word's characters, the last with the suffix, joined pair by pair: lowest rank first, the leftmost on a tie. */
  function merge(word: string): string[] {
    const symbols = Array.from(word);
    symbols[symbols.length - 1] = (symbols[symbols.length - 1] as string) + suffix;
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = ranks?.get(symbols[i] as string)?.get(symbols[i + 1] as string);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) return symbols;
      symbols.splice(best, 2, (symbols[best] as string) + (symbols[best + 1] as string));
    }
  }
}

const SPACE = 0x20;

/** [A-Za-z]: the printable-ASCII characters of `\p{L}`. */
function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** [0-9]: the printable-ASCII characters of `\p{N}`. */
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A printable-ASCII character of `[^\s\p{L}\p{N}]`. */
function isSymbol(c: number): boolean {
  return c !== SPACE && !isLetter(c) && !isDigit(c);
}

/** The end of a contraction ('s 't 're 've 'm 'll 'd) starting at `i`, or `i` when none does. */
function contractionEnd(text: string, i: number): number {
  if (text.charCodeAt(i) !== 0x27) return i;
  const next = text.charAt(i + 1);
  if (next === "s" || next === "t" || next === "m" || next === "d") return i + 2;
  const two = text.slice(i + 1, i + 3);
  return two === "re" || two === "ve" || two === "ll" ? i + 3 : i;
}

function absent(value: unknown): boolean {
  return value === undefined || value === null || value === "";
}

/** CLIP's pre-tokenizer: Split on CLIP's pattern (matches kept), then ByteLevel without a prefix space, on GPT-2's regex. */
function isClipPreTokenizer(preTokenizer: unknown): boolean {
  if (!isJsonObject(preTokenizer) || preTokenizer["type"] !== "Sequence") return false;
  const steps = preTokenizer["pretokenizers"];
  if (!Array.isArray(steps) || steps.length !== 2) return false;
  const [split, byteLevel] = steps as unknown[];
  if (!isJsonObject(split) || split["type"] !== "Split" || split["invert"] !== true || split["behavior"] !== "Removed") return false;
  const pattern = split["pattern"];
  if (!isJsonObject(pattern) || pattern["Regex"] !== CLIP_SPLIT_PATTERN) return false;
  return isJsonObject(byteLevel) && byteLevel["type"] === "ByteLevel" && byteLevel["add_prefix_space"] !== true && byteLevel["use_regex"] !== false;
}

/**
 * Merge ranks as the library reads them: "a b" strings cut at their first
 * two spaces (JS `split(" ", 2)`) or [a, b] pairs, by the format of the
 * first; a later duplicate's rank wins. Entries that are not pairs never
 * match. Null for a list the library would not read.
 */
function mergeRanks(merges: unknown): Map<string, Map<string, number>> | null {
  if (!Array.isArray(merges)) return null;
  const pairs = Array.isArray(merges[0]);
  const ranks = new Map<string, Map<string, number>>();
  for (let rank = 0; rank < merges.length; rank++) {
    const entry: unknown = merges[rank];
    let pair: unknown[];
    if (pairs) {
      if (!Array.isArray(entry)) return null;
      pair = entry;
    } else {
      if (typeof entry !== "string") return null;
      pair = entry.split(" ", 2);
    }
    const [a, b] = pair;
    if (pair.length !== 2 || typeof a !== "string" || typeof b !== "string") continue;
    let second = ranks.get(a);
    if (second === undefined) ranks.set(a, (second = new Map()));
    second.set(b, rank);
  }
  return ranks;
}
