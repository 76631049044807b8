/**
 * The error thrown when tokenizer files are missing, unreadable or hold
 * something this package cannot use. Argument errors are plain `TypeError`s
 * and `RangeError`s instead.
 */

import { CheckpointError } from "../errors";

/** Stable codes: a bad or missing file, or a valid file using an unsupported feature. */
export type TokenizerErrorCode = "ERR_CHECKPOINT" | "ERR_UNSUPPORTED";

/**
 * A tokenizer file (tokenizer.json, tokenizer_config.json) is missing, corrupt
 * or unsupported. It is a `CheckpointError`: tokenizer files are part of the
 * checkpoint folder (`catch (e) { if (e instanceof CheckpointError) … }` sees them).
 */
export class TokenizerFileError extends CheckpointError {
  override readonly code: TokenizerErrorCode;
  constructor(message: string, code: TokenizerErrorCode = "ERR_CHECKPOINT", options?: ErrorOptions) {
    super(message);
    if (options !== undefined && "cause" in options) this.cause = options.cause;
    this.code = code;
  }
}

/** A short description of a received value for error messages: `number 5`, `string "x"`, `null`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `array of length ${value.length}`;
  switch (typeof value) {
    case "string": {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return `string ${JSON.stringify(shown)}`;
    }
    case "number":
    case "boolean":
    case "bigint":
      return `${typeof value} ${String(value)}`;
    case "undefined":
      return "undefined";
    default:
      return typeof value;
  }
}

/** The message of a caught value, which need not be an Error (nor one of this realm's Errors). */
export function errorMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") return error.message;
  return String(error);
}
