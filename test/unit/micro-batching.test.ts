/**
 * Micro-batching of concurrent forwardQuery calls (lib/models/query-batcher.ts)
 * on the fixture models: each caller gets its own row, equal to a lone call
 * and to transformers' reference; coalescing shows in microBatchStats (the
 * forwards really run); a lone query waits for no timer; errors stay with
 * their caller; dispose rejects queued calls; the option off runs one
 * forward per call. Nothing here measures time: the fake clock only proves
 * that no timer is waited on (or that one is).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { BusyError, DisposedError, SentenceTransformerModel, Tensor, TextToImageClipModel, TextToTextBertModel, TextToTextE5Model, TorchScriptEmbeddingsModel, type MicroBatchStats } from "../../lib";
import { copyFixture } from "../helpers/checkpoints";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { pseudoRandom, writeSentenceTransformersFolder, type Stage } from "../helpers/sentence-transformers-folder";

const BERT = path.join(FIXTURES, "bert-tiny");
const XLMR = path.join(FIXTURES, "xlmr-tiny");
const CLIP = path.join(FIXTURES, "clip-tiny");
/** fp32 rounding between a batched and a lone forward: 1e-6 relative to the row's largest value (CLIP's unnormalised text_embeds reach ~10). */
const SAME = 1e-6;
const sameBound = (row: Float32Array): number => SAME * Math.max(1, ...Array.from(row, Math.abs));
// fixtures/README.md: a correct float32 implementation on CPU stays below 1e-5 of transformers.
const HF = 1e-5;

interface Batching {
  forwardQuery(q: string): Promise<Tensor>;
  readonly microBatchStats: MicroBatchStats;
}

function row(data: Float32Array, dim: number, i: number): Float32Array {
  return data.subarray(i * dim, (i + 1) * dim);
}

/** Each text alone, one after the other: the unbatched reference (largestBatch stays 1). */
async function sequential(model: Batching, texts: readonly string[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of texts) {
    using y = await model.forwardQuery(t);
    expect(y.shape[0]).toBe(1);
    out.push(y.toFloat32Array());
  }
  return out;
}

/** All texts at once; returns each caller's row and the stats' change. */
async function concurrent(model: Batching, texts: readonly string[]): Promise<{ rows: Float32Array[]; forwards: number; largest: number }> {
  const before = model.microBatchStats;
  const tensors = await Promise.all(texts.map((t) => model.forwardQuery(t)));
  const rows = tensors.map((t) => {
    expect(t.shape).toEqual([1, t.shape[1]]);
    expect(t.dtype).toBe("float32");
    const v = t.toFloat32Array();
    t.dispose();
    return v;
  });
  const after = model.microBatchStats;
  expect(after.queries - before.queries).toBe(texts.length);
  expect(after.queued).toBe(0);
  return { rows, forwards: after.forwards - before.forwards, largest: after.largestBatch };
}

/**
 * The contract on one model: 8 concurrent calls run as 2 forwards (the first
 * alone, the 7 that arrived meanwhile together), every row equals the lone
 * call within 1e-6 and, where given, transformers' row within 1e-5.
 */
async function expectCoalescedAndExact(model: Batching, texts: readonly string[], reference?: Float32Array): Promise<void> {
  const alone = await sequential(model, texts);
  expect(model.microBatchStats.largestBatch).toBe(1);
  const { rows, forwards, largest } = await concurrent(model, texts);
  expect(forwards).toBe(2);
  expect(largest).toBe(texts.length - 1);
  rows.forEach((r, i) => {
    expect(maxAbsDiff(r, alone[i] as Float32Array)).toBeLessThan(sameBound(alone[i] as Float32Array));
    if (reference !== undefined) expect(maxAbsDiff(r, row(reference, r.length, i))).toBeLessThan(HF);
  });
}

/** Lets pending promise callbacks run (setImmediate is never faked here). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Freezes the clock: timers wait for jest.advanceTimersByTime; promise callbacks and setImmediate still run. */
const freezeClock = () => jest.useFakeTimers({ doNotFake: ["nextTick", "setImmediate", "queueMicrotask", "hrtime", "performance"] });

/** With the clock frozen, submits `texts` to a model whose maxWaitMs holds them; returns their calls once all wait in its queue (none dispatched). */
async function queueInWindow(model: Batching, texts: readonly string[]): Promise<Promise<Tensor>[]> {
  freezeClock();
  const pending = texts.map((t) => model.forwardQuery(t));
  await settle();
  expect(model.microBatchStats.queued).toBe(texts.length);
  return pending;
}

let root: string;
const made: string[] = [];
beforeAll(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "micro-batching-"))));
afterAll(() => [root, ...made].forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
afterEach(() => jest.useRealTimers());

describe("concurrent forwardQuery calls share forwards, each caller getting exactly its own row", () => {
  const bertTexts = readReferenceJson("bert-tiny").texts;  // 0 to 40+ tokens: accents, CJK, emoji, empty, whitespace, truncated
  const xlmrTexts = readReferenceJson("xlmr-tiny").texts;

  test("TextToTextBertModel (bert-tiny): 8 texts of different lengths in 2 forwards; rows equal lone calls within 1e-6 and transformers' pooler_output within 1e-5", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    expect(model.microBatching).toEqual({ enabled: true, maxBatch: 32, maxTokens: 4096, maxWaitMs: 0 });
    await expectCoalescedAndExact(model, bertTexts, readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data);
  });

  test("TextToTextE5Model (xlmr-tiny, prefix \"query: \"): rows equal lone calls within 1e-6 and transformers' query mean_pool_l2 within 1e-5", async () => {
    using model = await TextToTextE5Model.fromPretrained(XLMR, { maxLength: 32 });
    await expectCoalescedAndExact(model, xlmrTexts, readReferenceTensor("xlmr-tiny", "query.dynamic.cpu.mean_pool_l2").data);
  });

  test("SentenceTransformerModel, native head (xlmr-tiny, mean + Normalize, prompt \"query: \"): rows equal lone calls and transformers' within bounds", async () => {
    const stages: Stage[] = [{ kind: "pooling", config: { embedding_dimension: 64, pooling_mode: "mean" } }, { kind: "normalize" }];
    const dir = await writeSentenceTransformersFolder(path.join(root, "st-e5"), { fixture: "xlmr-tiny", stages, prompts: { query: "query: " } });
    using model = await SentenceTransformerModel.fromPretrained(dir);
    expect(model.isNativePipeline).toBe(true);
    await expectCoalescedAndExact(model, xlmrTexts, readReferenceTensor("xlmr-tiny", "query.dynamic.cpu.mean_pool_l2").data);
  });

  test("SentenceTransformerModel, host head (bert-tiny, mean without the prompt -> Dense(tanh) -> Normalize): the batched padding and prompt mask give each row its lone value within 1e-6", async () => {
    const stages: Stage[] = [
      { kind: "pooling", config: { embedding_dimension: 64, pooling_mode: "mean", include_prompt: false } },
      { kind: "dense", inFeatures: 64, outFeatures: 16, activation: "torch.nn.modules.activation.Tanh", weight: pseudoRandom(16 * 64, 5, 0.3), bias: pseudoRandom(16, 9, 0.1) },
      { kind: "normalize" },
    ];
    const dir = await writeSentenceTransformersFolder(path.join(root, "st-dense"), { fixture: "bert-tiny", stages, prompts: { query: "find: " } });
    using model = await SentenceTransformerModel.fromPretrained(dir);
    expect(model.isNativePipeline).toBe(false);
    await expectCoalescedAndExact(model, bertTexts);
  });

  test("TextToImageClipModel (clip-tiny text tower): rows equal lone calls within 1e-6 and transformers' text_embeds within 1e-5", async () => {
    using model = await TextToImageClipModel.fromPretrained(CLIP);
    await expectCoalescedAndExact(model, readReferenceJson("clip-tiny").texts, readReference("clip-tiny").tensor("text_embeds"));
  });

  test("TorchScriptEmbeddingsModel (traced_pooler_eager.pt, takes attention_mask): rows equal lone calls within 1e-6 and transformers' pooler_output within 1e-5", async () => {
    using model = await TorchScriptEmbeddingsModel.load({ queryModel: path.join(BERT, "traced_pooler_eager.pt"), tokenizer: BERT });
    await expectCoalescedAndExact(model, bertTexts, readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data);
  });

  test("where padding would move positions (a tokenizer that pads on the left), only queries of one length share a forward, and each row still equals its lone call", async () => {
    const dir = copyFixture("bert-tiny", ["traced_pooler.pt", "traced_pooler_eager.pt", "reference.safetensors"]);
    made.push(dir);
    const configFile = path.join(dir, "tokenizer_config.json");
    fs.writeFileSync(configFile, JSON.stringify({ ...(JSON.parse(fs.readFileSync(configFile, "utf8")) as object), padding_side: "left" }));
    using model = await TextToTextBertModel.fromPretrained(dir, { maxLength: 32 });
    expect(model.tokenizer.paddingSide).toBe("left");
    // Two lengths, interleaved: the first runs alone, then each length goes as its own forward.
    const texts = ["a", "a a a a a", "b", "b b b b b", "c", "c c c c c"];
    const lengths = texts.map((t) => model.tokenizer.encodeBatch([t], { maxLength: 32 }).length);
    expect(new Set(lengths.slice(1)).size).toBe(2);
    const alone = await sequential(model, texts);
    const { rows, forwards } = await concurrent(model, texts);
    expect(forwards).toBe(3);
    rows.forEach((r, i) => expect(maxAbsDiff(r, alone[i] as Float32Array)).toBeLessThan(sameBound(alone[i] as Float32Array)));
  });

  test("a 1 MB query among short ones (truncated to 32 tokens, tokenized on its own) shares their forward; every row equals its lone call", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    const texts = ["red shoes", "cheap red shoes ".repeat(65_536), "blue hat", "green cap"];
    const alone = await sequential(model, texts);
    const { rows, forwards } = await concurrent(model, texts);
    expect(forwards).toBe(2);
    rows.forEach((r, i) => expect(maxAbsDiff(r, alone[i] as Float32Array)).toBeLessThan(sameBound(alone[i] as Float32Array)));
  });

  test("maxBatch and maxTokens bound a forward: 9 queued queries with maxBatch 4 go as 4 + 4 + 1; maxTokens below two rows runs each alone", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, microBatching: { maxBatch: 4 } });
    const texts = Array.from({ length: 10 }, (_, i) => `red running shoes ${i}`);
    const { forwards, largest } = await concurrent(model, texts);
    expect([forwards, largest]).toEqual([4, 4]);  // 1 alone, then 4, 4, 1
    const length = model.tokenizer.encodeBatch(["red running shoes"], { maxLength: 32 }).length;
    model.setMicroBatching({ maxTokens: 2 * length + 1 });  // room for 2 rows, not 3
    expect(model.microBatching).toEqual({ enabled: true, maxBatch: 32, maxTokens: 2 * length + 1, maxWaitMs: 0 });
    const bounded = await concurrent(model, Array.from({ length: 7 }, () => "red running shoes"));
    expect([bounded.forwards, bounded.largest]).toEqual([4, 4]);  // 1 alone, then 2, 2, 2 (largest since load: 4)
  });
});

describe("lone queries, errors, dispose and the option", () => {
  const texts = readReferenceJson("bert-tiny").texts;

  test("a lone query is dispatched without waiting on any timer (the clock is frozen), and sequential calls never batch", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    freezeClock();
    using y = await model.forwardQuery("red running shoes");
    expect(model.microBatchStats).toEqual({ forwards: 1, queries: 1, largestBatch: 1, queued: 0 });
    using z = await model.forwardQuery("blue shoes");
    expect(model.microBatchStats).toEqual({ forwards: 2, queries: 2, largestBatch: 1, queued: 0 });
    expect(maxAbsDiff(y.toFloat32Array(), z.toFloat32Array())).toBeGreaterThan(1e-3);  // two texts, two embeddings
  });

  test("with maxWaitMs 2 an idle model holds the first query until the window ends, and the queries of that window go as one forward", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, microBatching: { maxWaitMs: 2 } });
    const alone = await sequential(model, texts.slice(0, 3));  // each waits its window alone
    const base = model.microBatchStats.forwards;
    const pending = await queueInWindow(model, texts.slice(0, 3));
    expect(model.microBatchStats.forwards).toBe(base);
    jest.advanceTimersByTime(2);
    const rows = await Promise.all(pending);
    expect(model.microBatchStats.forwards).toBe(base + 1);
    rows.forEach((r, i) => {
      expect(maxAbsDiff(r.toFloat32Array(), alone[i] as Float32Array)).toBeLessThan(sameBound(alone[i] as Float32Array));
      r.dispose();
    });
  });

  test("with maxWaitMs 2, queries that arrive while a forward runs go when it ends, without waiting for the clock", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, microBatching: { maxWaitMs: 2 } });
    freezeClock();
    const first = model.forwardQuery(texts[0] as string);
    await settle();
    jest.advanceTimersByTime(2);  // the first query's window ends: its forward starts
    expect(model.microBatchStats.forwards).toBe(1);
    const later = texts.slice(1, 4).map((t) => model.forwardQuery(t));  // queue behind the running forward
    const rows = await Promise.all([first, ...later]);  // the clock is not advanced again
    expect(model.microBatchStats).toEqual({ forwards: 2, queries: 4, largestBatch: 3, queued: 0 });
    for (const r of rows) r.dispose();
  });

  test("a bad input fails its caller alone: the others get their rows, batched", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    const alone = await sequential(model, texts.slice(0, 5));
    const before = model.microBatchStats.forwards;
    const calls = [...texts.slice(0, 2), 42, ...texts.slice(2, 5)].map((t) => model.forwardQuery(t as string));
    const settled = await Promise.allSettled(calls);
    expect(settled[2]).toEqual({ status: "rejected", reason: expect.objectContaining({ name: "TypeError", message: "forwardQuery: expected a string but received number 42" }) });
    const good = settled.filter((s): s is PromiseFulfilledResult<Tensor> => s.status === "fulfilled").map((s) => s.value);
    expect(good).toHaveLength(5);
    good.forEach((t, i) => {
      expect(maxAbsDiff(t.toFloat32Array(), alone[i] as Float32Array)).toBeLessThan(sameBound(alone[i] as Float32Array));
      t.dispose();
    });
    expect(model.microBatchStats.forwards - before).toBe(2);
  });

  test("a forward that fails rejects every caller in it with that error (its module was freed while they waited)", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, microBatching: { maxWaitMs: 2 } });
    const pending = await queueInWindow(model, texts.slice(0, 3));
    model.getQueryModel().dispose();
    jest.advanceTimersByTime(2);
    const settled = await Promise.allSettled(pending);
    const reasons = settled.map((s) => (s.status === "rejected" ? (s.reason as Error) : undefined));
    expect(reasons.every((r) => r instanceof DisposedError)).toBe(true);
    expect(new Set(reasons).size).toBe(1);  // one forward, one error
  });

  test("dispose() rejects queued queries with a DisposedError naming the model, and later calls too; nothing hangs", async () => {
    const model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, microBatching: { maxWaitMs: 2 } });
    const pending = await queueInWindow(model, texts.slice(0, 4));
    model.dispose();
    for (const s of await Promise.allSettled(pending)) {
      expect(s.status).toBe("rejected");
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(DisposedError);
      expect(((s as PromiseRejectedResult).reason as Error).message).toBe(`forwardQuery: TextToTextBertModel(${BERT}) was disposed while this query waited for a batch`);
    }
    expect(model.microBatchStats).toEqual({ forwards: 0, queries: 0, largestBatch: 0, queued: 0 });
    await expect(model.forwardQuery("later")).rejects.toThrow(new DisposedError(`forwardQuery: TextToTextBertModel(${BERT}) was disposed`));
    expect(() => model.dispose()).not.toThrow();
  });

  test("dispose() while a batch runs: queued queries are rejected, the running one completes, dispose throws BusyError until it has", async () => {
    const model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    const alone = await sequential(model, texts.slice(0, 1));
    const pending = texts.map((t) => model.forwardQuery(t));
    // Promise callbacks only (no event-loop turn): the first query reaches the native forward, the others queue behind it.
    const running = () => model.getQueryModel().native.inFlight > 0;
    for (let i = 0; i < 1000 && (model.microBatchStats.queued < texts.length - 1 || !running()); i++) await Promise.resolve();
    expect(running()).toBe(true);
    expect(model.microBatchStats.queued).toBe(texts.length - 1);
    expect(() => model.dispose()).toThrow(BusyError);
    const settled = await Promise.allSettled(pending);
    expect(settled[0]?.status).toBe("fulfilled");
    const first = (settled[0] as PromiseFulfilledResult<Tensor>).value;
    expect(maxAbsDiff(first.toFloat32Array(), alone[0] as Float32Array)).toBeLessThan(sameBound(alone[0] as Float32Array));
    first.dispose();
    expect(settled.slice(1).every((s) => s.status === "rejected" && s.reason instanceof DisposedError)).toBe(true);
    model.dispose();
    expect(model.getQueryModel().isDisposed).toBe(true);
  });

  test("microBatching false runs one forward per call, with the same rows; setMicroBatching turns it back on", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, microBatching: false });
    expect(model.microBatching.enabled).toBe(false);
    const off = await concurrent(model, texts);
    expect([off.forwards, off.largest]).toEqual([texts.length, 1]);
    model.setMicroBatching(true);
    const on = await concurrent(model, texts);
    expect(on.forwards).toBe(2);
    on.rows.forEach((r, i) => expect(maxAbsDiff(r, off.rows[i] as Float32Array)).toBeLessThan(sameBound(off.rows[i] as Float32Array)));
  });

  test("bad microBatching values are TypeErrors / RangeErrors naming the option", async () => {
    await expect(TextToTextBertModel.fromPretrained(BERT, { microBatching: "yes" as unknown as boolean })).rejects.toThrow(
      new TypeError(`TextToTextBertModel.fromPretrained("${BERT}"): microBatching must be a boolean or { maxBatch, maxTokens, maxWaitMs } but received string "yes"`),
    );
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    expect(() => model.setMicroBatching({ maxBatch: 0 })).toThrow(expect.objectContaining({ name: "RangeError", message: "TextToTextBertModel.setMicroBatching: microBatching.maxBatch must be a positive integer but received number 0" }));
    expect(() => model.setMicroBatching({ maxWaitMs: 5 })).toThrow(expect.objectContaining({ name: "RangeError", message: "TextToTextBertModel.setMicroBatching: microBatching.maxWaitMs must be a number from 0 to 2 but received number 5" }));
    expect(() => model.setMicroBatching({ maxBatchSize: 4 } as never)).toThrow(expect.objectContaining({ name: "TypeError", message: expect.stringMatching(/has no option "maxBatchSize"/) }));
    await expect(TorchScriptEmbeddingsModel.load({ queryModel: path.join(BERT, "traced_pooler_eager.pt"), tokenizer: BERT, microBatching: { maxTokens: -1 } })).rejects.toThrow(RangeError);
    await expect(TextToImageClipModel.fromPretrained(CLIP, { microBatching: 1 as unknown as boolean })).rejects.toThrow(TypeError);
  });
});
