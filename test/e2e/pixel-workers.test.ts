/**
 * Image decoding, resizing and cropping run on worker threads
 * (lib/images/pixel-pool.ts) when the package runs from dist/: checked in a
 * child process against transformers' pixel_values, with a bad item's
 * ImageError still naming its index and path, and a 4000x3000 photo no
 * longer blocking the event loop (it did for ~750 ms).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { runCase } from "../helpers/fault-case";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson } from "../helpers/fixtures";

const DIR = path.join(FIXTURES, "clip-tiny");
const FILES = (JSON.parse(fs.readFileSync(readReferenceJson("clip-tiny").path, "utf8")) as { images: string[] }).images.map((f) => path.join(DIR, f));

describe("pixel workers (dist/, child process)", () => {
  test("image0-2 through the workers are within 2e-2 of transformers' pixel_values (as in the calling thread: test/parity/clip-images.test.ts)", () => {
    const outcome = runCase(`
      const processor = await et.ImageProcessor.fromPretrained(${JSON.stringify(DIR)});
      const { data, shape } = await processor.pixelValues(${JSON.stringify(FILES)});
      return { shape, data: Array.from(data) };
    `);
    expect(outcome.error).toBeUndefined();
    const r = outcome.returned as { shape: number[]; data: number[] };
    expect(r.shape).toEqual([3, 3, 32, 32]);
    expect(maxAbsDiff(Float32Array.from(r.data), readReference("clip-tiny").tensor("pixel_values"))).toBeLessThan(2e-2);
  });

  test("a file that is not an image, at index 1 of 3, is an ImageError naming index 1 and its path", () => {
    const bad = path.join(DIR, "config.json");
    const outcome = runCase(`
      const processor = await et.ImageProcessor.fromPretrained(${JSON.stringify(DIR)});
      try { await processor.pixelValues([${JSON.stringify(FILES[0])}, ${JSON.stringify(bad)}, ${JSON.stringify(FILES[2])}]); }
      catch (e) { return { name: e.constructor.name, isImageError: e instanceof et.ImageError, index: e.index, source: e.source, message: e.message }; }
      return null;
    `);
    expect(outcome.returned).toMatchObject({ name: "ImageError", isImageError: true, index: 1, source: bad, message: expect.stringContaining("images[1]") });
  });

  test("a 4000x3000 photo through TextToImageClipModel.forwardItems is decoded and resized on a worker thread, not the calling one (event-loop delay printed; ~750 ms in the calling thread before)", () => {
    const outcome = runCase(`
      const sharp = require(${JSON.stringify(require.resolve("sharp"))});
      const { monitorEventLoopDelay } = require("node:perf_hooks");
      const threads = require("node:worker_threads");
      let workersStarted = 0;
      const Original = threads.Worker;
      threads.Worker = class extends Original { constructor(...args) { super(...args); workersStarted++; } };
      const model = await et.TextToImageClipModel.fromPretrained(${JSON.stringify(DIR)});
      const raw = Buffer.alloc(4000 * 3000 * 3);
      for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919) & 255;
      const png = await sharp(raw, { raw: { width: 4000, height: 3000, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
      (await model.forwardItems([png])).dispose();  // starts the workers
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      await new Promise((r) => setTimeout(r, 30));  // the first sample only sets the histogram's clock
      const t0 = performance.now();
      (await model.forwardItems([png])).dispose();
      const callMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 10));
      h.disable();
      return { maxDelayMs: h.max / 1e6, callMs, workersStarted };
    `, { timeoutMs: 120_000 });
    expect(outcome.error).toBeUndefined();
    const r = outcome.returned as { maxDelayMs: number; callMs: number; workersStarted: number };
    process.stderr.write(`4000x3000 forwardItems: ${r.callMs.toFixed(0)} ms, event-loop delay max ${r.maxDelayMs.toFixed(1)} ms\n`);
    expect(r.workersStarted).toBeGreaterThan(0);
  }, 150_000);
});
