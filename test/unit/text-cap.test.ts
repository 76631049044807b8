/**
 * Texts are capped before tokenizing (lib/tokenization/text-cap.ts): a 1 MB
 * query tokenizes to the ids of a short prefix of it, embeds equal to that
 * prefix, and blocks the event loop no longer than a normal query (measured
 * in a child process with perf_hooks.monitorEventLoopDelay); the
 * empty-query warning is given once per model.
 */
import * as path from "node:path";

import { TextToTextBertModel, TextTokenizer } from "../../lib";
import { CHARS_PER_TOKEN, capText, charLimit } from "../../lib/tokenization/text-cap";
import { FIXTURES } from "../helpers/fixtures";
import { runCase } from "../helpers/fault-case";

const BERT = path.join(FIXTURES, "bert-tiny");
const WORDS = ["red", "running", "shoes", "for", "women", "blue", "jeans", "cotton"];

/** About `chars` characters of in-vocabulary words, each one token. */
function words(chars: number): string {
  let text = "";
  for (let i = 0; text.length < chars; i++) text += `${WORDS[i % WORDS.length]} `;
  return text;
}

describe("capText", () => {
  test("keeps 12 characters per token of room from the side truncation keeps, never half a surrogate pair", () => {
    expect(CHARS_PER_TOKEN).toBe(12);
    expect(capText("a".repeat(100), 2, "right")).toBe("a".repeat(24));
    expect(capText(`${"b".repeat(10)}${"a".repeat(90)}`, 2, "left")).toBe("a".repeat(24));
    expect(capText("short", 2, "right")).toBe("short");
    expect(capText("x".repeat(100), Infinity, "right")).toHaveLength(100);
    // "😀" is two code units (\ud83d\ude00): a cut at 24 would split the pair at code units 23-24
    const emoji = `${"a".repeat(23)}😀${"a".repeat(50)}`;
    expect(capText(emoji, 2, "right")).toBe("a".repeat(23));
    const tail = `${"a".repeat(50)}😀${"a".repeat(23)}`;
    expect(capText(tail, 2, "left")).toBe("a".repeat(23));
  });
});

describe("a 1 MB query", () => {
  test("bert-tiny: tokenizes to the ids of its first 200 characters (which truncation alone cuts to 30 tokens) and embeds bit-identically to them", async () => {
    const big = words(1 << 20);
    const prefix = big.slice(0, 200);  // ~40 one-token words: more than the 30 tokens of room, fewer characters than the cap (360)
    const tokenizer = await TextTokenizer.fromPretrained(BERT);
    expect(tokenizer.encodeBatch([big], { maxLength: 32 }).inputIds).toEqual(tokenizer.encodeBatch([prefix], { maxLength: 32 }).inputIds);
    using model = await TextToTextBertModel.fromPretrained(BERT);
    using a = await model.forwardQuery(big);
    using b = await model.forwardQuery(prefix);
    expect(a.toFloat32Array()).toEqual(b.toFloat32Array());
  });

  test("models/default (maxLength 64): the 1 MB query reaches the tokenizer as at most charLimit(62) characters and embeds like its capped text (child process; the event-loop delay is printed, timings belong in bench/service.js)", () => {
    const outcome = runCase(`
      const { monitorEventLoopDelay, performance } = require("node:perf_hooks");
      const model = await et.TextToTextBertModel.fromPretrained("models/default");
      const { Tokenizer } = require(${JSON.stringify(require.resolve("@huggingface/tokenizers"))});
      let longest = 0;  // the longest text the tokenizer library was given
      const encode = Tokenizer.prototype.encode;
      Tokenizer.prototype.encode = function (text, ...rest) { longest = Math.max(longest, text.length); return encode.call(this, text, ...rest); };
      const words = ${JSON.stringify(WORDS)};
      // Starting with a non-ASCII word, the capped text goes through the library (printable ASCII takes ascii-wordpiece.ts, after the same cap).
      let big = "café "; for (let i = 0; big.length < 1 << 20; i++) big += words[i % words.length] + " ";
      (await model.forwardQuery("warm up the tokenizer and the forward")).dispose();
      const measure = async (text) => {
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        await new Promise((r) => setTimeout(r, 30));  // the histogram's first sample only sets its clock
        const t0 = performance.now();
        (await model.forwardQuery(text)).dispose();
        const ms = performance.now() - t0;
        await new Promise((r) => setTimeout(r, 10));
        h.disable();
        return { maxDelayMs: h.max / 1e6, forwardMs: ms };
      };
      const normal = await measure(big.slice(0, 300));
      longest = 0;
      const measured = await measure(big);
      const bigLongest = longest;
      const a = await model.forwardQuery(big), b = await model.forwardQuery(big.slice(0, 2000));
      const same = Array.from(a.toFloat32Array()).every((v, i) => v === b.toFloat32Array()[i]);
      return { normal, big: measured, bigLongest, same };
    `);
    expect(outcome.error).toBeUndefined();
    const r = outcome.returned as { normal: { maxDelayMs: number; forwardMs: number }; big: { maxDelayMs: number; forwardMs: number }; bigLongest: number; same: boolean };
    process.stderr.write(`event loop, models/default: 300-char query max delay ${r.normal.maxDelayMs.toFixed(1)} ms (call ${r.normal.forwardMs.toFixed(1)} ms); 1 MB query max delay ${r.big.maxDelayMs.toFixed(1)} ms (call ${r.big.forwardMs.toFixed(1)} ms)\n`);
    expect(r.bigLongest).toBeGreaterThan(0);
    expect(r.bigLongest).toBeLessThanOrEqual(charLimit(62));  // 62 = maxLength 64 - [CLS], [SEP]
    expect(r.same).toBe(true);  // 62 tokens come from far fewer than 2,000 characters: the cap changes nothing
  });
});

test("the empty-query warning is given once per model, not per call", async () => {
  const emit = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
  try {
    using a = await TextToTextBertModel.fromPretrained(BERT);
    using b = await TextToTextBertModel.fromPretrained(BERT);
    for (const model of [a, a, a, b, b]) (await model.forwardQuery("  ")).dispose();
    const empty = emit.mock.calls.filter(([, options]) => (options as { code?: string } | undefined)?.code === "EMBEDDINGS_TORCH_EMPTY_QUERY");
    expect(empty).toHaveLength(2);
  } finally {
    emit.mockRestore();
  }
});
