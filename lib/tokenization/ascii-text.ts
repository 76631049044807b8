/**
 * What the ASCII fast paths share (ascii-wordpiece.ts for BERT's WordPiece,
 * ascii-clip-bpe.ts for CLIP's BPE, ascii-unigram.ts for XLM-R's Unigram):
 * which texts they take, the normalizers as they act on such text, and the
 * added tokens, which `@huggingface/tokenizers` splits out of a text before
 * its normalizer and model see it and maps to ids ahead of the vocabulary.
 */
import type { Tokenizer } from "@huggingface/tokenizers";
import { NMT_REMOVED, NMT_TO_SPACE } from "./normalizer-compat";
import { isJsonObject } from "./read-json-file";

/** A text's ids without special tokens, or null when the library must tokenize it. */
export type ContentIds = (text: string) => number[] | null;

/** U+0020-U+007E: the only texts a fast path takes. */
export const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A tokenizer's added tokens as the library maps them. */
export interface AddedTokens {
  /** Token text to id: each token's text, then a normalized token's normalized text; a later token wins. */
  readonly ids: ReadonlyMap<string, number>;
  /** Texts whose presence leaves a text to the library (each token's text, lowercased, normalized; none empty). */
  readonly texts: readonly string[];
}

/**
 * The added tokens of `tokenizer`, `normalize` being its normalizer on
 * printable ASCII; null when a normalized added token is not printable ASCII
 * (the form the library matches in normalized text is not known here).
 */
export function asciiAddedTokens(tokenizer: Tokenizer, normalize: (text: string) => string): AddedTokens | null {
  const ids = new Map<string, number>();
  const texts = new Set<string>();
  for (const [id, token] of tokenizer.get_added_tokens_decoder()) {
    if (token.normalized && !PRINTABLE_ASCII.test(token.content)) return null;
    ids.set(token.content, id);
    if (token.normalized) ids.set(normalize(token.content), id);
    for (const form of [token.content, token.content.toLowerCase(), normalize(token.content)]) if (form !== "") texts.add(form);
  }
  return { ids, texts: [...texts] };
}

/**
 * The normalized form of a text a fast path takes, or null when the library
 * must tokenize it: a character outside printable ASCII, or an added token's
 * text in it or in its normalized form (the library splits those out first).
 */
export function takenText(text: string, normalize: (text: string) => string, added: AddedTokens): string | null {
  if (!PRINTABLE_ASCII.test(text)) return null;
  const normalized = normalize(text);
  for (const token of added.texts) if (text.includes(token) || normalized.includes(token)) return null;
  return normalized;
}

/** The id the library gives a token string its model produced: an added token's first, then the vocabulary's. */
export function tokenId(token: string, tokenizer: Tokenizer, added: AddedTokens): number | undefined {
  return added.ids.get(token) ?? tokenizer.token_to_id(token);
}

/** Unicode normalizers, and normalizers of marks, that change no printable-ASCII character. */
const ASCII_NEUTRAL = new Set(["NFC", "NFD", "NFKC", "NFKD", "StripAccents"]);

/**
 * Regex patterns of `Replace` normalizers, as they act on printable ASCII:
 * `\s` matches only the space there, and the Nmt rewrite's classes
 * (normalizer-compat.ts) match none of its characters.
 */
const ASCII_REGEX_PATTERNS = new Map<string, RegExp | null>([
  ["\\s+", / +/g],
  [" {2,}", / {2,}/g],
  [" +", / +/g],
  [NMT_REMOVED, null],
  [NMT_TO_SPACE, null],
]);

/**
 * The normalizer of a tokenizer.json (after normalizer-compat.ts's rewrite)
 * as `@huggingface/tokenizers` applies it to printable-ASCII text, or null
 * when it has a part whose effect on such text is not known here. Text in
 * stays printable ASCII out. Precompiled is the library's NMT rules and NFKC
 * (it does not read the charsmap): no change to printable ASCII.
 */
export function asciiNormalizer(normalizer: unknown): ((text: string) => string) | null {
  if (normalizer === null || normalizer === undefined) return (text) => text;
  if (!isJsonObject(normalizer)) return null;
  const type = normalizer["type"];
  if (typeof type !== "string") return null;
  if (ASCII_NEUTRAL.has(type) || type === "Precompiled") return (text) => text;
  if (type === "Lowercase") return (text) => text.toLowerCase();
  if (type === "Strip") {
    const left = Boolean(normalizer["strip_left"]);
    const right = Boolean(normalizer["strip_right"]);
    return (text) => (left && right ? text.trim() : right ? text.trimEnd() : left ? text.trimStart() : text);
  }
  if (type === "Replace") {
    const pattern = normalizer["pattern"];
    const content = normalizer["content"] ?? "";
    // "$" in a replacement string is a substitution pattern in JS: left to the library.
    if (!isJsonObject(pattern) || typeof content !== "string" || !PRINTABLE_ASCII.test(content) || content.includes("$")) return null;
    const literal = pattern["String"];
    if (typeof literal === "string" && pattern["Regex"] === undefined) {
      if (literal === "") return content === "" ? (text) => text : null;  // an empty pattern matches between every two characters
      // A pattern with another character never occurs in printable-ASCII text.
      return PRINTABLE_ASCII.test(literal) ? (text) => text.replaceAll(literal, content) : (text) => text;
    }
    const regex = typeof pattern["Regex"] === "string" ? ASCII_REGEX_PATTERNS.get(pattern["Regex"]) : undefined;
    if (regex === undefined) return null;
    return regex === null ? (text) => text : (text) => text.replace(regex, content);
  }
  if (type !== "Sequence" || !Array.isArray(normalizer["normalizers"])) return null;
  const steps: ((text: string) => string)[] = [];
  for (const child of normalizer["normalizers"]) {
    const step = asciiNormalizer(child);
    if (step === null) return null;
    steps.push(step);
  }
  return (text) => steps.reduce((t, step) => step(t), text);
}
