/**
 * The error thrown when one input image cannot be read or decoded. It names
 * the item (index and path) because a batch fails as a whole and the caller
 * must find the bad file among many.
 */

/** An input image (a file path or encoded bytes) could not be read or decoded. */
export class ImageError extends Error {
  readonly code = "ERR_IMAGE" as const;
  /** Position of the image in the batch. */
  readonly index: number;
  /** The file path, or `Buffer(<n> bytes)` for bytes given directly. */
  readonly source: string;

  constructor(message: string, index: number, source: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.index = index;
    this.source = source;
  }
}

/** How an input is named in messages: its path, or its size for bytes. */
export function describeImageSource(input: string | Uint8Array): string {
  return typeof input === "string" ? JSON.stringify(input) : `Buffer(${input.byteLength} bytes)`;
}

/** The message of a caught value; duck-typed because errors from Node's realm fail jest's `instanceof Error`. */
export function errorMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") return error.message;
  return String(error);
}
