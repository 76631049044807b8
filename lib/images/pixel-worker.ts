/**
 * The entry of a pixel worker thread (pixel-pool.ts): decodes one image
 * (sharp) and resizes and centre crops it per message; only the encoded
 * input and the cropped result cross threads (the decoded pixels of a
 * 4000x3000 photo, 36 MB, never reach the JS thread).
 */
import { parentPort } from "node:worker_threads";

import { decodeRgb, type ImageInput, type RgbImage } from "./decode";
import { ImageError, errorMessage } from "./errors";
import type { ImageProcessorConfig } from "./processor-config";
import { resizeAndCrop } from "./resize-crop";

export interface PixelTask {
  readonly id: number;
  readonly input: ImageInput;
  /** For messages: the item's index in the caller's list, and the calling method. */
  readonly index: number;
  readonly context: string;
  readonly config: ImageProcessorConfig;
}

export interface PixelFailure {
  readonly name: string;
  readonly message: string;
  readonly index?: number;
  readonly source?: string;
}

export type PixelReply = { readonly id: number; readonly image: RgbImage } | { readonly id: number; readonly error: PixelFailure };

const port = parentPort;

/** Posts `message`, moving `data`'s buffer when it can be moved (a buffer sharp allocated may not be: then it is copied). */
function reply(message: PixelReply, data: Uint8Array): void {
  const buffer = data.buffer;
  if (buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength) {
    try {
      port?.postMessage(message, [buffer]);
      return;
    } catch {
      // not transferable: copied below
    }
  }
  port?.postMessage(message);
}
port?.on("message", (task: PixelTask) => {
  void (async () => {
    try {
      const image = resizeAndCrop(await decodeRgb(task.input, task.index, task.context), task.config);
      reply({ id: task.id, image }, image.data);
    } catch (error) {
      const failure: PixelFailure =
        error instanceof ImageError ? { name: "ImageError", message: error.message, index: error.index, source: error.source } : { name: error instanceof TypeError ? "TypeError" : "Error", message: errorMessage(error) };
      port.postMessage({ id: task.id, error: failure } satisfies PixelReply);
    }
  })();
});
