/**
 * Large batches are tokenized on worker threads (lib/tokenization/tokenizer-pool.ts)
 * when the package runs from dist/: checked in child processes. The ids equal
 * those of the calling thread (whose parity with transformers
 * test/unit/tokenization.test.ts checks), forwardItems gives the same
 * embeddings with the workers off, errors keep their class and message.
 */
import * as path from "node:path";

import { runCase } from "../helpers/fault-case";

const MODEL = path.resolve(__dirname, "..", "..", "models", "default");

/** 32 items of ~2,000 characters (64,000 in all: far over OFF_THREAD_CHARS). */
const SETUP = `
  const words = ["red", "running", "shoes", "for", "women", "blue", "jeans", "cotton"];
  const item = (n) => { let t = ""; for (let i = 0; t.length < n; i++) t += words[(i * 7 + n) % 8] + " "; return t; };
  const texts = Array.from({ length: 32 }, (_, i) => item(2000 + i));
  const model = await et.TextToTextBertModel.fromPretrained(${JSON.stringify(MODEL)});
`;

describe("tokenizer workers (dist/, child processes)", () => {
  test("encodeBatchAsync of 32 long items equals encodeBatch (ids, mask, types); a bad maxLength is the same RangeError", () => {
    const outcome = runCase(`${SETUP}
      const a = await model.tokenizer.encodeBatchAsync(texts, { maxLength: 64, prefix: "passage: " });
      const b = model.tokenizer.encodeBatch(texts, { maxLength: 64, prefix: "passage: " });
      const same = (x, y) => x.length === y.length && x.every((v, i) => v === y[i]);
      let asyncError = null, syncError = null;
      try { await model.tokenizer.encodeBatchAsync(texts, { maxLength: 100000 }); } catch (e) { asyncError = e.constructor.name + ": " + e.message; }
      try { model.tokenizer.encodeBatch(texts, { maxLength: 100000 }); } catch (e) { syncError = e.constructor.name + ": " + e.message; }
      return { shape: [a.batchSize, a.length], ids: same(a.inputIds, b.inputIds), mask: same(a.attentionMask, b.attentionMask), types: same(a.tokenTypeIds, b.tokenTypeIds), kind: a.inputIds.constructor.name, asyncError, syncError };
    `);
    expect(outcome.error).toBeUndefined();
    expect(outcome.returned).toMatchObject({ shape: [32, 64], ids: true, mask: true, types: true, kind: "BigInt64Array", asyncError: expect.stringMatching(/^RangeError: /) });
    const r = outcome.returned as { asyncError: string; syncError: string };
    expect(r.asyncError).toBe(r.syncError);
  });

  test("forwardItems of the 32 long items: bit-identical embeddings with EMBEDDINGS_TORCH_TOKENIZER_WORKERS=0; event-loop delay printed, tokenization on a worker", () => {
    const body = `${SETUP}
      const { monitorEventLoopDelay } = require("node:perf_hooks");
      const threads = require("node:worker_threads");
      let workersStarted = 0;
      const Original = threads.Worker;
      threads.Worker = class extends Original { constructor(...args) { super(...args); workersStarted++; } };
      (await model.forwardItems(texts)).dispose();
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      await new Promise((r) => setTimeout(r, 30));
      const out = await model.forwardItems(texts);
      await new Promise((r) => setTimeout(r, 10));
      h.disable();
      return { values: Array.from(out.toFloat32Array()), maxDelayMs: h.max / 1e6, workersStarted };
    `;
    const workers = runCase(body);
    const inline = runCase(body, { env: { EMBEDDINGS_TORCH_TOKENIZER_WORKERS: "0" } });
    expect(workers.error).toBeUndefined();
    expect(inline.error).toBeUndefined();
    const [w, i] = [workers.returned, inline.returned] as { values: number[]; maxDelayMs: number; workersStarted: number }[];
    process.stderr.write(`forwardItems, 32 items of 2,000 characters (models/default, maxLength 64): event-loop delay max ${w!.maxDelayMs.toFixed(1)} ms with tokenizer workers, ${i!.maxDelayMs.toFixed(1)} ms without\n`);
    expect(w!.values).toHaveLength(32 * 128);
    expect(w!.values).toEqual(i!.values);
    // Where the tokenization ran, not how long it took (timings belong in bench/service.js).
    expect(w!.workersStarted).toBeGreaterThan(0);
    expect(i!.workersStarted).toBe(0);
  });
});
