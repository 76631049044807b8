import { readFile } from "node:fs/promises";
import { TokenizerFileError, describeValue, errorMessage } from "./errors";

/** A parsed JSON object whose values are still unchecked. */
export type JsonObject = { readonly [key: string]: unknown };

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads a UTF-8 JSON file whose top level is an object.
 *
 * @param filePath the file to read.
 * @param context the operation, prefixed to error messages (e.g. `TextTokenizer.fromPretrained("/m")`).
 * @throws TokenizerFileError (code `ERR_CHECKPOINT`) naming the path when the file is missing,
 *   unreadable, not JSON, or not an object at the top level.
 */
export async function readJsonObject(filePath: string, context: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(filePath, "utf8");
  } catch (error) {
    const reason = isNodeError(error) && error.code === "ENOENT" ? "file not found" : `cannot be read: ${errorMessage(error)}`;
    throw new TokenizerFileError(`${context}: ${filePath}: ${reason}`, "ERR_CHECKPOINT", { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TokenizerFileError(`${context}: ${filePath}: not valid JSON: ${errorMessage(error)}`, "ERR_CHECKPOINT", {
      cause: error,
    });
  }
  if (!isJsonObject(value)) {
    throw new TokenizerFileError(`${context}: ${filePath}: expected a JSON object at the top level, found ${describeValue(value)}`);
  }
  return value;
}

/** Duck-typed: errors from another realm (jest's vm sandbox) fail `instanceof Error`. */
function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  return typeof error === "object" && error !== null && "code" in error;
}
