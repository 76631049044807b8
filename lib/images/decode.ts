/**
 * Decodes one input image (a path or encoded bytes: PNG, JPEG, WebP, and
 * whatever else libvips reads) to interleaved 8-bit RGB with sharp. Alpha is
 * dropped, not composited, and EXIF orientation is ignored: that is what
 * Pillow's `convert("RGB")` in Hugging Face's processors does.
 */
import { readFile } from "node:fs/promises";

import sharp from "sharp";

import { ImageError, describeImageSource, errorMessage } from "./errors";

/** A path to an image file, or the file's bytes (a Buffer is a Uint8Array). */
export type ImageInput = string | Uint8Array;

/** Interleaved RGB, row-major: pixel (x, y) channel c at `(y * width + x) * 3 + c`. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** A Uint8Array (Buffer) from any realm: jest's sandbox has its own Uint8Array. */
export function isBytes(value: unknown): value is Uint8Array {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === "[object Uint8Array]";
}

/**
 * @param index the image's position in its batch, for messages.
 * @throws TypeError when `input` is neither a string nor a Uint8Array.
 * @throws ImageError naming `index` and the path when the file cannot be read or decoded.
 */
export async function decodeRgb(input: unknown, index: number, context: string): Promise<RgbImage> {
  if (typeof input !== "string" && !isBytes(input))
    throw new TypeError(`${context}: images[${index}] must be a file path (string) or encoded image bytes (Buffer), received ${input === null ? "null" : typeof input}`);
  const source = describeImageSource(input);
  const fail = (why: string, error: unknown): never => {
    throw new ImageError(`${context}: images[${index}] (${source}): ${why}: ${errorMessage(error)}`, index, typeof input === "string" ? input : source, { cause: error });
  };
  let bytes: Uint8Array;
  try {
    bytes = typeof input === "string" ? await readFile(input) : input;
  } catch (error) {
    return fail("cannot read the file", error);
  }
  try {
    // failOn "error": a truncated or corrupt file is an error, not a partly grey image.
    const { data, info } = await sharp(bytes, { failOn: "error" })
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) return fail("not decodable as RGB", new Error(`${info.channels} channels after conversion`));
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (error) {
    return fail("cannot decode the image", error);
  }
}
