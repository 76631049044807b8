/**
 * The entry of a pixel worker thread (pixel-pool.ts): decodes one image
 * (sharp) and resizes and centre crops it per message; only the encoded
 * input and the cropped result cross threads (the decoded pixels of a
 * 4000x3000 photo, 36 MB, never reach the JS thread).
 */
import { parentPort } from "node:worker_threads";

import { describeFailure, postReply } from "../worker-pool";
import { decodeRgb, type ImageInput } from "./decode";
import type { ImageProcessorConfig } from "./processor-config";
import { resizeAndCrop } from "./resize-crop";

export interface PixelTask {
  readonly input: ImageInput;
  /** For messages: the item's index in the caller's list, and the calling method. */
  readonly index: number;
  readonly context: string;
  readonly config: ImageProcessorConfig;
}

const port = parentPort;
port?.on("message", (task: PixelTask & { id: number }) => {
  void (async () => {
    try {
      const image = resizeAndCrop(await decodeRgb(task.input, task.index, task.context), task.config);
      postReply(port, { id: task.id, result: image }, image.data.byteOffset === 0 && image.data.byteLength === image.data.buffer.byteLength ? [image.data.buffer] : []);
    } catch (error) {
      port.postMessage({ id: task.id, error: describeFailure(error) });
    }
  })();
});
