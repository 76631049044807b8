/**
 * What the ASCII fast paths share (ascii-wordpiece.ts for BERT's WordPiece,
 * ascii-clip-bpe.ts for CLIP's BPE): which texts they take, and the added
 * tokens, which `@huggingface/tokenizers` splits out of a text before its
 * normalizer and model see it and maps to ids ahead of the vocabulary.
 */
import type { Tokenizer } from "@huggingface/tokenizers";

/** A text's ids without special tokens, or null when the library must tokenize it. */
export type ContentIds = (text: string) => number[] | null;

/** U+0020-U+007E: the only texts a fast path takes. */
export const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A tokenizer's added tokens as the library maps them. */
export interface AddedTokens {
  /** Token text to id: each token's text, then a normalized token's normalized text; a later token wins. */
  readonly ids: ReadonlyMap<string, number>;
  /** Texts whose presence leaves a text to the library (each token's text, and it lowercased). */
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
    if (token.content !== "") texts.add(token.content).add(token.content.toLowerCase());
  }
  return { ids, texts: [...texts] };
}

/** Whether `text` or its normalized form holds an added token's text: such a text is left to the library. */
export function holdsAddedToken(text: string, normalized: string, added: AddedTokens): boolean {
  for (const token of added.texts) if (text.includes(token) || normalized.includes(token)) return true;
  return false;
}

/** The id the library gives a token string its model produced: an added token's first, then the vocabulary's. */
export function tokenId(token: string, tokenizer: Tokenizer, added: AddedTokens): number | undefined {
  return added.ids.get(token) ?? tokenizer.token_to_id(token);
}
