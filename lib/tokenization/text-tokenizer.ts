/**
 * Batches of texts to padded int64 arrays, with Hugging Face's truncation
 * and padding, on top of `@huggingface/tokenizers` (which tokenises one text
 * at a time and neither truncates nor pads).
 */
import * as path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { resolveOptions, type PairOptions, type TokenizerOptions } from "./encode-options";
import { asciiClipBpe } from "./ascii-clip-bpe";
import type { ContentIds } from "./ascii-text";
import { asciiUnigram } from "./ascii-unigram";
import { asciiWordPiece } from "./ascii-wordpiece";
import { TokenizerFileError, describeValue, errorMessage } from "./errors";
import { withSupportedNormalizers } from "./normalizer-compat";
import { packRows, rowLength, type BatchEncoding, type TokenRun } from "./padding";
import { parsePostProcessor, specialTokenCount, type EncodingTemplate, type TemplatePiece } from "./post-processor-template";
import { readJsonObject, type JsonObject } from "./read-json-file";
import { readTokenizerSettings, type TokenizerSettings } from "./tokenizer-settings";
import { capText, charLimit } from "./text-cap";
import { OFF_THREAD_CHARS, tokenizerPool } from "./tokenizer-pool";
import { keptPairLengths, keptRange, type Side } from "./truncation";

/** A text's own tokens (no special tokens) and the part of them kept. */
interface KeptTokens {
  readonly ids: readonly number[];
  readonly start: number;
  readonly end: number;
}

/**
 * A Hugging Face tokenizer folder (tokenizer.json + tokenizer_config.json)
 * that encodes batches the way transformers' `tokenizer(texts,
 * truncation=True, padding=..., max_length=...)` does, into int64 arrays.
 */
export class TextTokenizer {
  /** tokenizer_config.json `model_max_length`, or `Infinity` when it sets none. */
  readonly modelMaxLength: number;
  /** Id written on padding (tokenizer_config.json `pad_token`). */
  readonly padTokenId: number;
  /** Where padding goes (tokenizer_config.json `padding_side`, default "right"). */
  readonly paddingSide: Side;
  /** Which end of a too-long text is cut (tokenizer_config.json `truncation_side`, default "right"). */
  readonly truncationSide: Side;
  readonly #tokenizer: Tokenizer;
  /** The same ids as #tokenizer for printable-ASCII texts of a BERT, CLIP or XLM-R tokenizer, faster (ascii-wordpiece.ts, ascii-clip-bpe.ts, ascii-unigram.ts); null otherwise. */
  readonly #asciiIds: ContentIds | null;
  readonly #template: EncodingTemplate;
  /** The folder it was loaded from: tokenizer workers load it again (tokenizer-pool.ts). */
  readonly #dir: string;

  private constructor(tokenizer: Tokenizer, asciiIds: ContentIds | null, template: EncodingTemplate, settings: TokenizerSettings, dir: string) {
    this.#tokenizer = tokenizer;
    this.#asciiIds = asciiIds;
    this.#dir = dir;
    this.#template = template;
    this.modelMaxLength = settings.modelMaxLength;
    this.padTokenId = settings.padTokenId;
    this.paddingSide = settings.paddingSide;
    this.truncationSide = settings.truncationSide;
  }

  /**
   * Loads `dir/tokenizer.json` and `dir/tokenizer_config.json`.
   *
   * @throws TypeError when `dir` is not a string.
   * @throws TokenizerFileError naming the file and what is wrong: code `ERR_CHECKPOINT` for a
   *   missing or malformed file, `ERR_UNSUPPORTED` for a component neither this package nor
   *   `@huggingface/tokenizers` implements.
   */
  static async fromPretrained(dir: string): Promise<TextTokenizer> {
    if (typeof dir !== "string") {
      throw new TypeError(`TextTokenizer.fromPretrained: dir must be a string, received ${describeValue(dir)}`);
    }
    const context = `TextTokenizer.fromPretrained(${JSON.stringify(dir)})`;
    // One after the other: with both missing, the error names tokenizer.json every time.
    const tokenizerJson = await readJsonObject(path.join(dir, "tokenizer.json"), context);
    const config = await readJsonObject(path.join(dir, "tokenizer_config.json"), context);
    const template = parsePostProcessor(tokenizerJson["post_processor"], `${context}: tokenizer.json`);
    const supported = withSupportedNormalizers(tokenizerJson);
    const tokenizer = createTokenizer(supported, config, context);
    const settings = readTokenizerSettings(tokenizerJson, config, (token) => tokenizer.token_to_id(token), context);
    const asciiIds = asciiWordPiece(supported, config, tokenizer) ?? asciiClipBpe(supported, config, tokenizer) ?? asciiUnigram(supported, config, tokenizer);
    return new TextTokenizer(tokenizer, asciiIds, template, settings, path.resolve(dir));
  }

  /**
   * Tokenises texts with the tokenizer's special tokens, truncating each
   * text's own tokens to `maxLength` minus the special tokens, and pads.
   * `""` gives the special tokens alone ([CLS] [SEP]).
   *
   * @returns `[texts.length, length]` int64 arrays; `tokenTypeIds` are zeros.
   * @throws TypeError naming the index of a text that is not a string, or a mistyped option.
   * @throws RangeError when `maxLength` is below the number of special tokens or above `modelMaxLength`.
   */
  encodeBatch(texts: readonly string[], options?: TokenizerOptions): BatchEncoding {
    const pieces = this.#template.single;
    const opts = resolveOptions(options, "encodeBatch", specialTokenCount(pieces), this.modelMaxLength, true);
    if (!Array.isArray(texts)) {
      throw new TypeError(`encodeBatch: texts must be an array of strings, received ${describeValue(texts)}`);
    }
    for (let i = 0; i < texts.length; i++) {
      const text: unknown = texts[i]; // a plain loop also sees holes, which forEach skips
      if (typeof text !== "string") throw new TypeError(`encodeBatch: texts[${i}] must be a string, received ${describeValue(text)}`);
    }
    const room = opts.truncation ? opts.maxLength - specialTokenCount(pieces) : Infinity;
    const rows = texts.map((text) => {
      const ids = this.#contentIds(capText(opts.prefix + text, room, this.truncationSide));  // text-cap.ts: a 1 MB text costs what a capped one does
      const kept = Math.min(ids.length, room);
      return layOut(pieces, [{ ids, ...keptRange(ids.length, kept, this.truncationSide) }]);
    });
    return this.#pack(rows, opts.padding === "max_length" ? opts.maxLength : 0);
  }

  /**
   * {@link encodeBatch} off the JS thread when the batch is large (over
   * OFF_THREAD_CHARS characters after the cap; tokenizer-pool.ts): the same
   * result, the same errors.
   */
  async encodeBatchAsync(texts: readonly string[], options?: TokenizerOptions): Promise<BatchEncoding> {
    const pool = tokenizerPool();
    if (pool === null || !Array.isArray(texts)) return this.encodeBatch(texts, options);
    const maxLength = options?.maxLength ?? this.modelMaxLength;
    const limit = typeof maxLength === "number" && options?.truncation !== false ? charLimit(maxLength) : Infinity;
    let chars = 0;
    for (const t of texts) chars += typeof t === "string" ? Math.min(t.length, limit) : 0;
    if (chars <= OFF_THREAD_CHARS) return this.encodeBatch(texts, options);
    // Cut here already (to at least what the worker keeps), so a 1 MB text is not copied to it.
    const capped = texts.map((t) => (typeof t === "string" ? capText(t, maxLength, this.truncationSide) : t));
    return pool.run({ dir: this.#dir, texts: capped, options: options ?? {} });
  }

  /**
   * Tokenises a pair of texts as one row (`[CLS] a [SEP] b [SEP]` for BERT),
   * truncating the longer text first (Hugging Face "longest_first").
   *
   * @returns `[1, length]` int64 arrays; `tokenTypeIds` as the tokenizer's pair template says (BERT: 1 from b on).
   * @throws TypeError when `a` or `b` is not a string, or for a mistyped option (a `prefix` included).
   * @throws RangeError when `maxLength` is below the number of special tokens of a pair or above `modelMaxLength`.
   */
  encodePair(a: string, b: string, options?: PairOptions): BatchEncoding {
    const pieces = this.#template.pair;
    const opts = resolveOptions(options, "encodePair", specialTokenCount(pieces), this.modelMaxLength, false);
    if (typeof a !== "string") throw new TypeError(`encodePair: a must be a string, received ${describeValue(a)}`);
    if (typeof b !== "string") throw new TypeError(`encodePair: b must be a string, received ${describeValue(b)}`);
    const room = opts.truncation ? opts.maxLength - specialTokenCount(pieces) : Infinity;
    const idsA = this.#contentIds(capText(a, room, this.truncationSide));  // neither text keeps more than `room` tokens
    const idsB = this.#contentIds(capText(b, room, this.truncationSide));
    const [keptA, keptB] = keptPairLengths(idsA.length, idsB.length, room);
    const row = layOut(pieces, [
      { ids: idsA, ...keptRange(idsA.length, keptA, this.truncationSide) },
      { ids: idsB, ...keptRange(idsB.length, keptB, this.truncationSide) },
    ]);
    return this.#pack([row], opts.padding === "max_length" ? opts.maxLength : 0);
  }

  /** A text's ids without special tokens (the template adds them after truncation). */
  #contentIds(text: string): readonly number[] {
    return this.#asciiIds?.(text) ?? this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Pads to the longest row, or to `minLength` when longer (untruncated rows may exceed it). */
  #pack(rows: readonly (readonly TokenRun[])[], minLength: number): BatchEncoding {
    let length = minLength;
    for (const row of rows) length = Math.max(length, rowLength(row));
    return packRows(rows, length, this.padTokenId, this.paddingSide);
  }
}

/** The runs of one row: the layout's special tokens around the kept tokens of each text. */
function layOut(pieces: readonly TemplatePiece[], texts: readonly KeptTokens[]): TokenRun[] {
  return pieces.map((piece): TokenRun => {
    if (piece.kind === "special") return { ids: piece.ids, start: 0, end: piece.ids.length, typeId: piece.typeId };
    const text = texts[piece.sequence];
    if (text === undefined) throw new RangeError(`layOut: the template refers to text ${piece.sequence} of ${texts.length}`);
    return { ...text, typeId: piece.typeId };
  });
}

function createTokenizer(tokenizerJson: JsonObject, config: JsonObject, context: string): Tokenizer {
  try {
    return new Tokenizer(tokenizerJson, config);
  } catch (error) {
    throw new TokenizerFileError(
      `${context}: tokenizer.json: @huggingface/tokenizers cannot build this tokenizer: ${errorMessage(error)}`,
      "ERR_UNSUPPORTED",
      { cause: error },
    );
  }
}
