/**
 * The batching settings of a tokenizer folder, read the way Hugging Face
 * transformers reads them: tokenizer_config.json first, tokenizer.json's
 * `padding` / `truncation` blocks as fallbacks.
 */
import { TokenizerFileError, describeValue } from "./errors";
import { isJsonObject, type JsonObject } from "./read-json-file";
import type { Side } from "./truncation";

/** What batching needs besides the vocabulary. */
export interface TokenizerSettings {
  /** tokenizer_config.json `model_max_length`; `Infinity` when absent or the "no limit" sentinel (1e30). */
  readonly modelMaxLength: number;
  readonly padTokenId: number;
  readonly paddingSide: Side;
  readonly truncationSide: Side;
}

/** transformers writes int(1e30) (VERY_LARGE_INTEGER) for "no limit"; real limits are far smaller. */
const NO_LIMIT_ABOVE = 2 ** 40;

/**
 * @param tokenizerJson parsed tokenizer.json.
 * @param config parsed tokenizer_config.json.
 * @param tokenToId the id of a token (vocabulary or added token), undefined when absent.
 * @param context the operation, prefixed to error messages.
 * @throws TokenizerFileError naming the file and key that is wrong.
 */
export function readTokenizerSettings(
  tokenizerJson: JsonObject,
  config: JsonObject,
  tokenToId: (token: string) => number | undefined,
  context: string,
): TokenizerSettings {
  const padding = isJsonObject(tokenizerJson["padding"]) ? tokenizerJson["padding"] : undefined;
  const truncation = isJsonObject(tokenizerJson["truncation"]) ? tokenizerJson["truncation"] : undefined;
  return {
    modelMaxLength: readModelMaxLength(config["model_max_length"], context),
    padTokenId: readPadTokenId(config["pad_token"], padding?.["pad_id"], tokenToId, context),
    paddingSide: readSide(config, "padding_side", padding?.["direction"], context),
    truncationSide: readSide(config, "truncation_side", truncation?.["direction"], context),
  };
}

function readModelMaxLength(value: unknown, context: string): number {
  if (value === undefined || value === null) return Infinity;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TokenizerFileError(
      `${context}: tokenizer_config.json: model_max_length must be a positive integer, found ${describeValue(value)}`,
    );
  }
  return value > NO_LIMIT_ABOVE ? Infinity : value;
}

function readPadTokenId(
  padToken: unknown,
  padId: unknown,
  tokenToId: (token: string) => number | undefined,
  context: string,
): number {
  // pad_token is a string, or an AddedToken object {"content": "<pad>", ...} in older files.
  const content = isJsonObject(padToken) ? padToken["content"] : padToken;
  if (typeof content === "string") {
    const id = tokenToId(content);
    if (id === undefined) {
      throw new TokenizerFileError(
        `${context}: tokenizer_config.json: pad_token ${JSON.stringify(content)} is not in tokenizer.json's vocabulary or added_tokens`,
      );
    }
    return id;
  }
  if (content !== undefined && content !== null) {
    throw new TokenizerFileError(`${context}: tokenizer_config.json: pad_token must be a string, found ${describeValue(padToken)}`);
  }
  if (typeof padId === "number" && Number.isInteger(padId) && padId >= 0) return padId;
  throw new TokenizerFileError(
    `${context}: tokenizer_config.json has no pad_token and tokenizer.json no padding.pad_id; ` +
      'batches need one: add "pad_token" to tokenizer_config.json',
  );
}

function readSide(config: JsonObject, key: "padding_side" | "truncation_side", direction: unknown, context: string): Side {
  const value = config[key];
  if (value === "left" || value === "right") return value;
  if (value !== undefined && value !== null) {
    throw new TokenizerFileError(`${context}: tokenizer_config.json: ${key} must be "left" or "right", found ${describeValue(value)}`);
  }
  // tokenizer.json spells the direction "Left" / "Right".
  if (direction === "Left") return "left";
  return "right";
}
