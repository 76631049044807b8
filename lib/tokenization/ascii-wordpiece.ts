/**
 * The ids `@huggingface/tokenizers` gives a printable-ASCII text under a BERT
 * WordPiece tokenizer (BertNormalizer, BertPreTokenizer, WordPiece), computed
 * from char codes: the same ids, a fraction of the work. A query is tokenized
 * right after the previous forward has evicted the JS thread's caches, where
 * the library's Unicode-property regexes, NFD normalisation and added-token
 * splitting cost ~0.14 ms for 16 tokens (bench/README.md, "What a query costs
 * besides its forward").
 *
 * On printable ASCII (U+0020-U+007E) those components reduce to:
 * - BertNormalizer: `toLowerCase()` when `lowercase`, else nothing. Its other
 *   steps leave such text as it is: no control characters or U+FFFD to drop,
 *   the only whitespace is the space, no CJK to surround with spaces, NFD
 *   changes no ASCII character and leaves no combining mark to strip.
 * - BertPreTokenizer: each run of [0-9A-Za-z] is a word, each other
 *   character except the space is a word of its own (every printable ASCII
 *   character that is not a letter, digit or space is in its punctuation
 *   class), spaces separate.
 * - WordPiece: greedy longest match from the left against the vocabulary
 *   (which the library extends with the added tokens), `continuing_subword_prefix`
 *   on every piece after the first; a word longer than
 *   `max_input_chars_per_word`, or with a part no piece matches, is the unknown token.
 * - Token to id: an added token's id first, then the vocabulary's, then the unknown token's.
 *
 * A text is left to the library (null) when it holds any other character or
 * contains an added token's text (which the library splits out first), and a
 * tokenizer whose configuration has anything else gets no fast path at all.
 * test/unit/tokenization.test.ts checks the ids against the library's on
 * thousands of generated texts.
 */
import type { Tokenizer } from "@huggingface/tokenizers";
import { asciiAddedTokens, takenText, tokenId, type ContentIds } from "./ascii-text";
import { isJsonObject, type JsonObject } from "./read-json-file";

/** The fast path of `tokenizer` (built from `tokenizerJson` and `config`), or null when its components are not exactly BERT's. */
export function asciiWordPiece(tokenizerJson: JsonObject, config: JsonObject, tokenizer: Tokenizer): ContentIds | null {
  const { normalizer, pre_tokenizer: preTokenizer, model } = tokenizerJson;
  if (!isJsonObject(normalizer) || normalizer["type"] !== "BertNormalizer") return null;
  if (!isJsonObject(preTokenizer) || preTokenizer["type"] !== "BertPreTokenizer") return null;
  if (!isJsonObject(model) || model["type"] !== "WordPiece") return null;
  // Text rewrites the library applies before the normalizer (read from tokenizer_config.json).
  if (config["remove_space"] === true || config["do_lowercase_and_remove_accent"] === true) return null;
  const prefix = model["continuing_subword_prefix"];
  const unk = model["unk_token"];
  const limit = model["max_input_chars_per_word"] ?? 100;
  if (typeof prefix !== "string" || typeof unk !== "string" || typeof limit !== "number" || model["fuse_unk"] === true) return null;
  const maxChars = limit;
  const lowercase = Boolean(normalizer["lowercase"]);

  const normalize = (text: string): string => (lowercase ? text.toLowerCase() : text);
  const addedTokens = asciiAddedTokens(tokenizer, normalize);
  if (addedTokens === null) return null;
  const added = addedTokens;
  const unkId = tokenId(unk, tokenizer, added);
  if (unkId === undefined) return null;

  return (text) => {
    const normalized = takenText(text, normalize, added);
    if (normalized === null) return null;
    const ids: number[] = [];
    const n = normalized.length;
    for (let i = 0; i < n; ) {
      const c = normalized.charCodeAt(i);
      if (c === 0x20) {
        i++;
        continue;
      }
      let end = i + 1;
      if (isWordChar(c)) while (end < n && isWordChar(normalized.charCodeAt(end))) end++;
      pieces(normalized.slice(i, end), ids);
      i = end;
    }
    return ids;
  };

  /** WordPiece of one word, appended to `ids`. */
  function pieces(word: string, ids: number[]): void {
    if (word.length > maxChars) {
      ids.push(unkId as number);
      return;
    }
    const start = ids.length;
    for (let from = 0; from < word.length; ) {
      let to = word.length;
      let id: number | undefined;
      for (; to > from; to--) {
        const piece = from === 0 ? word.slice(0, to) : prefix + word.slice(from, to);
        // The library asks its vocabulary (with the added tokens in it) whether the piece exists, then maps it: an added token's id first.
        const known = tokenizer.token_to_id(piece);
        if (known !== undefined) {
          id = added.ids.get(piece) ?? known;
          break;
        }
      }
      if (id === undefined) {
        ids.length = start;
        ids.push(unkId as number);
        return;
      }
      ids.push(id);
      from = to;
    }
  }
}

/** [0-9A-Za-z]: what BertPreTokenizer keeps together in ASCII text. */
function isWordChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
