/**
 * forwardInBatches (lib/models/forward-batches.ts): the models' one batching
 * loop prepares batch i + 1 while batch i's forward runs, joins the outputs
 * in order, and on a failure frees what it prepared for nothing.
 */
import * as path from "node:path";

import { Tensor, TextToImageClipModel, TextToTextBertModel } from "../../lib";
import { forwardInBatches } from "../../lib/models/forward-batches";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson } from "../helpers/fixtures";

/** A promise and its resolve/reject, settled by the test. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("forwardInBatches", () => {
  test("prepares batch i + 1 while batch i's forward runs, and joins the rows in input order", async () => {
    const events: string[] = [];
    const forwards = [deferred<Tensor>(), deferred<Tensor>(), deferred<Tensor>()];
    const call = forwardInBatches(5, 2, {
      prepare: async (start, end) => {
        events.push(`prepare ${start}-${end}`);
        return [start, end] as const;
      },
      forward: ([start, end]) => {
        events.push(`forward ${start}-${end}`);
        return forwards[start / 2]!.promise;
      },
    });
    await tick();
    // Batch 0 is running and batch 1 is already prepared; batch 2 waits for batch 0's rows.
    expect(events).toEqual(["prepare 0-2", "forward 0-2", "prepare 2-4"]);
    forwards[0]!.resolve(Tensor.from(new Float32Array([0, 0, 1, 1]), [2, 2]));
    await tick();
    expect(events).toEqual(["prepare 0-2", "forward 0-2", "prepare 2-4", "forward 2-4", "prepare 4-5"]);
    forwards[1]!.resolve(Tensor.from(new Float32Array([2, 2, 3, 3]), [2, 2]));
    forwards[2]!.resolve(Tensor.from(new Float32Array([4, 4]), [1, 2]));
    using joined = await call;
    expect(joined.shape).toEqual([5, 2]);
    expect(Array.from(joined.toFloat32Array())).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  test("one batch: its forward's output itself; no input: no batch prepared", async () => {
    const only = Tensor.from(new Float32Array([1, 2]), [1, 2]);
    await expect(forwardInBatches(1, 32, { prepare: async () => 0, forward: async () => only })).resolves.toBe(only);
    only.dispose();
    const prepare = jest.fn(async () => 0);
    await expect(forwardInBatches(0, 32, { prepare, forward: async () => only })).rejects.toThrow();
    expect(prepare).not.toHaveBeenCalled();
  });

  test("a failed forward fails the call; rows already computed are freed, the batch prepared meanwhile is discarded", async () => {
    const first = Tensor.from(new Float32Array([1, 2]), [1, 2]);
    const discarded: number[] = [];
    const failure = new Error("forward failed");
    const call = forwardInBatches(3, 1, {
      prepare: async (start) => start,
      forward: async (start) => {
        if (start === 0) return first;
        await tick();  // batch 2 is being prepared meanwhile
        throw failure;
      },
      discard: (start) => discarded.push(start),
    });
    await expect(call).rejects.toBe(failure);
    await tick();
    expect(first.isDisposed).toBe(true);
    expect(discarded).toEqual([2]);
  });

  test("a failed preparation fails the call with its own error, and one failing meanwhile is never an unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const bad = new TypeError("texts[1] must be a string");
      await expect(forwardInBatches(4, 1, {
        prepare: async (start) => {
          if (start === 1) throw bad;
          return start;
        },
        forward: async () => {
          throw new Error("forward failed");  // while batch 1's preparation fails too
        },
      })).rejects.toThrow("forward failed");
      await expect(forwardInBatches(4, 2, {
        prepare: async (start) => {
          if (start === 2) throw bad;  // at once, while batch 0's forward still runs
          return start;
        },
        forward: async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]);
        },
      })).rejects.toBe(bad);
      await tick();
      await tick();
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("the models batch through it", () => {
  test("TextToTextBertModel.forwardItems: batches of 2 equal one batch of 5 within 1e-6", async () => {
    const texts = ["red shoes", "a much longer text about running shoes for the trail", "blue", "hiking boots, waterproof", "sandals"];
    using small = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { batchSize: 2 });
    using large = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { batchSize: 32 });
    using a = await small.forwardItems(texts);
    using b = await large.forwardItems(texts);
    expect(a.shape).toEqual([5, b.shape[1]]);
    expect(maxAbsDiff(a.toFloat32Array(), b.toFloat32Array())).toBeLessThan(1e-6);
  });

  test("TextToImageClipModel: images in batches of 2 equal one batch of 3 within 1e-6 (and transformers' image_embeds within the PNG bound 1e-2); texts too", async () => {
    const dir = path.join(FIXTURES, "clip-tiny");
    const images = [0, 1, 2].map((i) => path.join(dir, `image${i}.png`));
    using small = await TextToImageClipModel.fromPretrained(dir, { batchSize: 2 });
    using large = await TextToImageClipModel.fromPretrained(dir, { batchSize: 32 });
    using a = await small.forwardItems(images);
    using b = await large.forwardItems(images);
    expect(a.shape).toEqual([3, 32]);
    expect(maxAbsDiff(a.toFloat32Array(), b.toFloat32Array())).toBeLessThan(1e-6);
    expect(maxAbsDiff(a.toFloat32Array(), readReference("clip-tiny").tensor("image_embeds"))).toBeLessThan(1e-2);
    const texts = readReferenceJson("clip-tiny").texts;
    using c = await small.encodeQueries(texts, { grad: false });
    expect(c.shape).toEqual([texts.length, 32]);
    expect(maxAbsDiff(c.toFloat32Array(), readReference("clip-tiny").tensor("text_embeds"))).toBeLessThan(1e-5);
  });
});
