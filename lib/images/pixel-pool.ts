/**
 * Decode, resize and centre crop off the JS thread, on a WorkerPool
 * (lib/worker-pool.ts). Pillow-exact resizing is JavaScript (resample.ts),
 * ~90 ms for a 1024x768 photo and ~750 ms for 4000x3000, which on the JS
 * thread blocked every other request for as long.
 *
 * Runs in the calling thread instead where no worker entry exists (the
 * TypeScript sources run by ts-node or jest, not dist/) or when
 * EMBEDDINGS_TORCH_PIXEL_WORKERS=0.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { WorkerPool, type WorkerFailure } from "../worker-pool";
import { decodeRgb, type ImageInput, type RgbImage } from "./decode";
import { ImageError } from "./errors";
import type { PixelTask } from "./pixel-worker";
import type { ImageProcessorConfig } from "./processor-config";
import { resizeAndCrop } from "./resize-crop";

const ENTRY = path.join(__dirname, "pixel-worker.js");

/** The worker's error as the class decodeRgb throws (the stack is this thread's). */
function rebuild(failure: WorkerFailure): Error {
  if (failure.name === "ImageError") return new ImageError(failure.message, typeof failure.index === "number" ? failure.index : -1, typeof failure.source === "string" ? failure.source : "");
  return failure.name === "TypeError" ? new TypeError(failure.message) : new Error(failure.message);
}

let pool: WorkerPool<PixelTask, RgbImage> | null | undefined;

/**
 * Decodes `input` (a path or encoded bytes; `index`/`context` name it in
 * errors) and resizes and centre crops it as `config` says, on a pixel
 * worker where one can run. Throws as decodeRgb.
 */
export async function preparePixels(input: ImageInput, index: number, context: string, config: ImageProcessorConfig): Promise<RgbImage> {
  if (pool === undefined) pool = process.env.EMBEDDINGS_TORCH_PIXEL_WORKERS === "0" || !fs.existsSync(ENTRY) ? null : new WorkerPool(ENTRY, rebuild);
  // decodeRgb's TypeError for a bad item, and a foreign-realm array, stay here
  if (pool === null || (typeof input !== "string" && !(input instanceof Uint8Array))) return resizeAndCrop(await decodeRgb(input, index, context), config);
  return pool.run({ input, index, context, config });  // encoded bytes are copied (small)
}
