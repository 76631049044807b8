/**
 * Options of {@link TextTokenizer.encodeBatch} / `encodePair`, and their
 * validation (JS callers can pass anything).
 */
import { describeValue } from "./errors";
import { isJsonObject } from "./read-json-file";

/** How a batch is truncated and padded. */
export interface TokenizerOptions {
  /**
   * Longest row in tokens, special tokens included; texts are cut to fit
   * (their own tokens, never the special tokens). Default: the tokenizer's
   * `modelMaxLength`. Must lie in [number of special tokens, modelMaxLength].
   */
  maxLength?: number;
  /** "longest" (default): pad rows to the longest one; "max_length": pad every row to `maxLength`. */
  padding?: "longest" | "max_length";
  /** Prepended to every text before tokenisation, e.g. E5's "query: " or "passage: ". */
  prefix?: string;
  /**
   * Default true. false keeps every token (Hugging Face `truncation=False`):
   * rows may then be longer than `maxLength`, and a model may reject them.
   */
  truncation?: boolean;
}

/** Options of a pair of texts: as {@link TokenizerOptions}, without a prefix. */
export type PairOptions = Omit<TokenizerOptions, "prefix">;

/** Options with defaults applied; `maxLength` is `Infinity` when there is no limit. */
export interface ResolvedOptions {
  readonly maxLength: number;
  readonly padding: "longest" | "max_length";
  readonly prefix: string;
  readonly truncation: boolean;
}

/**
 * @param method the calling method, for messages (`encodeBatch`).
 * @param specialTokens special tokens the layout adds: the least allowed `maxLength`.
 * @param modelMaxLength the greatest allowed `maxLength` (may be `Infinity`).
 * @param allowPrefix whether `prefix` is an accepted option.
 * @throws TypeError when options or a field has the wrong type; RangeError when a value is out of range.
 */
export function resolveOptions(
  options: unknown,
  method: string,
  specialTokens: number,
  modelMaxLength: number,
  allowPrefix: boolean,
): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isJsonObject(options)) {
    throw new TypeError(`${method}: options must be an object, received ${describeValue(options)}`);
  }
  const { maxLength = modelMaxLength, padding = "longest", prefix = "", truncation = true } = options;
  if (typeof maxLength !== "number") {
    throw new TypeError(`${method}: options.maxLength must be a number, received ${describeValue(maxLength)}`);
  }
  const limit = Number.isFinite(modelMaxLength) ? ` and ${modelMaxLength} (model_max_length)` : "";
  const explicit = options["maxLength"] !== undefined;
  if ((explicit && !Number.isInteger(maxLength)) || maxLength < specialTokens || maxLength > modelMaxLength) {
    throw new RangeError(
      `${method}: options.maxLength must be an integer between ${specialTokens} (the special tokens)${limit}, received ${maxLength}`,
    );
  }
  if (padding !== "longest" && padding !== "max_length") {
    throw new RangeError(`${method}: options.padding must be "longest" or "max_length", received ${describeValue(padding)}`);
  }
  if (padding === "max_length" && !Number.isFinite(maxLength)) {
    throw new RangeError(
      `${method}: options.padding "max_length" needs options.maxLength, because tokenizer_config.json sets no model_max_length`,
    );
  }
  if (!allowPrefix && options["prefix"] !== undefined) {
    throw new TypeError(`${method}: options.prefix is not accepted for a pair; prepend it to the texts instead`);
  }
  if (typeof prefix !== "string") {
    throw new TypeError(`${method}: options.prefix must be a string, received ${describeValue(prefix)}`);
  }
  if (typeof truncation !== "boolean") {
    throw new TypeError(`${method}: options.truncation must be a boolean, received ${describeValue(truncation)}`);
  }
  return { maxLength, padding, prefix, truncation };
}
