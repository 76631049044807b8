/**
 * Texts are capped before tokenizing (lib/tokenization/text-cap.ts): a 1 MB
 * query tokenizes to the ids of a short prefix of it, embeds equal to that
 * prefix, and blocks the event loop no longer than a normal query (measured
 * in a child process with perf_hooks.monitorEventLoopDelay); the
 * empty-query warning is given once per model.
 */
import * as path from "node:path";

import { TextToTextBertModel, TextTokenizer } from "../../lib";
import { CHARS_PER_TOKEN, capText } from "../../lib/tokenization/text-cap";
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

  test("models/default (maxLength 64): the 1 MB query blocks the event loop < 40 ms (child process, monitorEventLoopDelay; a generous bound on a shared machine: measured ~5 ms, ~1.7 s before the cap)", () => {
    const outcome = runCase(`
      const { monitorEventLoopDelay, performance } = require("node:perf_hooks");
      const model = await et.TextToTextBertModel.fromPretrained("models/default");
      const words = ${JSON.stringify(WORDS)};
      let big = ""; for (let i = 0; big.length < 1 << 20; i++) big += words[i % words.length] + " ";
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
      return { normal: await measure(big.slice(0, 300)), big: await measure(big) };
    `);
    expect(outcome.error).toBeUndefined();
    const r = outcome.returned as { normal: { maxDelayMs: number; forwardMs: number }; big: { maxDelayMs: number; forwardMs: number } };
    process.stderr.write(`event loop, models/default: 300-char query max delay ${r.normal.maxDelayMs.toFixed(1)} ms (call ${r.normal.forwardMs.toFixed(1)} ms); 1 MB query max delay ${r.big.maxDelayMs.toFixed(1)} ms (call ${r.big.forwardMs.toFixed(1)} ms)\n`);
    expect(r.big.maxDelayMs).toBeLessThan(40);
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
