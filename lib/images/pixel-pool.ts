/**
 * Decode, resize and centre crop off the JS thread: a small pool of worker threads
 * (min(4, cores - 1), at least 1), started on first use, unref'd while idle
 * so they never keep a process alive. Pillow-exact resizing is JavaScript
 * (resample.ts), ~90 ms for a 1024x768 photo and ~750 ms for 4000x3000, which
 * on the JS thread blocked every other request for as long.
 *
 * Runs in the calling thread instead where no worker entry exists (the
 * TypeScript sources run by ts-node or jest, not dist/) or when
 * EMBEDDINGS_TORCH_PIXEL_WORKERS=0.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";

import { decodeRgb, type ImageInput, type RgbImage } from "./decode";
import { ImageError } from "./errors";
import type { PixelFailure, PixelReply, PixelTask } from "./pixel-worker";
import type { ImageProcessorConfig } from "./processor-config";
import { resizeAndCrop } from "./resize-crop";

const ENTRY = path.join(__dirname, "pixel-worker.js");

interface Slot {
  readonly worker: Worker;
  busy: number;
}

interface Pending {
  readonly slot: Slot;
  resolve(image: RgbImage): void;
  reject(error: Error): void;
}

class PixelPool {
  readonly #size = Math.max(1, Math.min(4, (os.availableParallelism?.() ?? os.cpus().length) - 1));
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  run(input: ImageInput, index: number, context: string, config: ImageProcessorConfig): Promise<RgbImage> {
    const slot = this.#pick();
    const id = this.#nextId++;
    return new Promise<RgbImage>((resolve, reject) => {
      this.#pending.set(id, { slot, resolve, reject });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, input, index, context, config } satisfies PixelTask);  // encoded bytes are copied (small)
    });
  }

  /** The least busy worker; a new one while the pool is below its size and all are busy. */
  #pick(): Slot {
    const idle = this.#slots.reduce<Slot | null>((best, s) => (best === null || s.busy < best.busy ? s : best), null);
    if (idle !== null && (idle.busy === 0 || this.#slots.length >= this.#size)) return idle;
    const worker = new Worker(ENTRY);
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on("message", (reply: PixelReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (--slot.busy === 0) worker.unref();
      if ("error" in reply) pending.reject(rebuild(reply.error));
      else pending.resolve(reply.image);
    });
    const fail = (error: Error) => {
      const at = this.#slots.indexOf(slot);
      if (at >= 0) this.#slots.splice(at, 1);
      for (const [id, pending] of this.#pending) {
        if (pending.slot !== slot) continue;
        this.#pending.delete(id);
        pending.reject(error);
      }
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`image resize/crop: the pixel worker exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }
}

/** The worker's error as the class decodeRgb throws (the stack is this thread's). */
function rebuild(failure: PixelFailure): Error {
  if (failure.name === "ImageError") return new ImageError(failure.message, failure.index ?? -1, failure.source ?? "");
  return failure.name === "TypeError" ? new TypeError(failure.message) : new Error(failure.message);
}

let pool: PixelPool | null | undefined;

/**
 * Decodes `input` (a path or encoded bytes; `index`/`context` name it in
 * errors) and resizes and centre crops it as `config` says, on a pixel
 * worker where one can run. Throws as decodeRgb.
 */
export async function preparePixels(input: ImageInput, index: number, context: string, config: ImageProcessorConfig): Promise<RgbImage> {
  if (pool === undefined) pool = process.env.EMBEDDINGS_TORCH_PIXEL_WORKERS === "0" || !fs.existsSync(ENTRY) ? null : new PixelPool();
  if (pool === null) return resizeAndCrop(await decodeRgb(input, index, context), config);
  if (typeof input !== "string" && !(input instanceof Uint8Array)) return resizeAndCrop(await decodeRgb(input, index, context), config);  // decodeRgb's TypeError, or a foreign-realm array
  return pool.run(input, index, context, config);
}
