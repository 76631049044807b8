import * as path from "node:path";

import { Module, Tensor, TextToTextBertModel, TextToTextE5Model } from "../../lib";
import { readCheckpointWeights } from "../../lib/hub/checkpoint";
import { TextTokenizer } from "../../lib/tokenization";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";

// Tolerance from fixtures/README.md: a correct float32 implementation on CPU stays below 1e-5.
const TOL = 1e-5;
const BERT = path.join(FIXTURES, "bert-tiny");
const XLMR = path.join(FIXTURES, "xlmr-tiny");

function rows(data: Float32Array, dim: number, index: number): Float32Array {
  return data.subarray(index * dim, (index + 1) * dim);
}

/** An encoder with the given pooling, loaded from a fixture through the public Module API. */
async function encoder(dir: string, architecture: string, pooling: string): Promise<Module> {
  const config = (await import(path.join(dir, "config.json"))) as Record<string, unknown>;
  const options = Object.fromEntries(Object.entries(config).filter(([, v]) => ["number", "string", "boolean"].includes(typeof v))) as Record<string, number | string | boolean>;
  const m = Module.create(architecture, { ...options, pooling });
  await m.loadStateDict(path.join(dir, "model.safetensors"));
  return m;
}

async function run(m: Module, tokenizer: TextTokenizer, texts: readonly string[], padding: "max_length" | "longest", prefix = ""): Promise<Tensor> {
  const enc = tokenizer.encodeBatch(texts, { maxLength: 32, padding, prefix });
  using ids = Tensor.from(enc.inputIds, [enc.batchSize, enc.length]);
  using mask = Tensor.from(enc.attentionMask, [enc.batchSize, enc.length]);
  return m.forwardTensor({ input_ids: ids, attention_mask: mask });
}

describe("BERT (bert-tiny) against transformers", () => {
  const texts = readReferenceJson("bert-tiny").texts;

  test.each(["fixed", "dynamic"] as const)("last_hidden_state matches HF within 1e-5 (%s padding, CPU)", async (mode) => {
    using m = await encoder(BERT, "bert", "none");
    const tokenizer = await TextTokenizer.fromPretrained(BERT);
    using got = await run(m, tokenizer, texts, mode === "fixed" ? "max_length" : "longest");
    const ref = readReferenceTensor("bert-tiny", `${mode}.cpu.last_hidden_state`);
    expect(got.shape).toEqual(ref.shape);
    expect(maxAbsDiff(got.toFloat32Array(), ref.data)).toBeLessThan(TOL);
  });

  test.each([
    ["mean", "mean_pool"],
    ["mean_l2", "mean_pool_l2"],
  ] as const)("pooling %s matches HF %s within 1e-5 (fixed and dynamic)", async (pooling, key) => {
    using m = await encoder(BERT, "bert", pooling);
    const tokenizer = await TextTokenizer.fromPretrained(BERT);
    for (const mode of ["fixed", "dynamic"] as const) {
      using got = await run(m, tokenizer, texts, mode === "fixed" ? "max_length" : "longest");
      expect(maxAbsDiff(got.toFloat32Array(), readReferenceTensor("bert-tiny", `${mode}.cpu.${key}`).data)).toBeLessThan(TOL);
    }
  });

  test.each([
    ["max_length", "fixed"],
    ["longest", "dynamic"],
  ] as const)("TextToTextBertModel.forwardItems (padding %s) equals HF pooler_output within 1e-5", async (padding, mode) => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, padding, batchSize: 3 });
    using got = await model.forwardItems(texts);
    const ref = readReferenceTensor("bert-tiny", `${mode}.cpu.pooler_output`);
    expect(got.shape).toEqual([8, 64]);
    expect(got.dtype).toBe("float32");
    expect(maxAbsDiff(got.toFloat32Array(), ref.data)).toBeLessThan(TOL);
  });

  test("forwardQuery of each text equals its HF pooler_output row", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    const ref = readReferenceTensor("bert-tiny", "fixed.cpu.pooler_output").data;
    for (const [i, text] of texts.entries()) {
      if (text.trim() === "") continue;  // the empty query is tested for its warning below
      using q = await model.forwardQuery(text);
      expect(q.shape).toEqual([1, 64]);
      expect(maxAbsDiff(q.toFloat32Array(), rows(ref, 64, i))).toBeLessThan(TOL);
    }
  });

  test("a perturbed weight moves the output far outside the tolerance (the comparison can fail)", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    const weights = await readCheckpointWeights(BERT);
    const bias = weights.get("encoder.layer.1.output.dense.bias");
    if (!bias) throw new Error("fixture lacks encoder.layer.1.output.dense.bias");
    const changed = bias.toFloat32Array().map((v, i) => (i === 3 ? v + 0.05 : v));
    using perturbed = Tensor.from(changed, bias.shape);
    await model.getQueryModel().loadStateDict(new Map([["encoder.layer.1.output.dense.bias", perturbed]]), { strict: false });
    for (const t of weights.values()) t.dispose();
    using got = await model.forwardItems(texts);
    expect(maxAbsDiff(got.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data)).toBeGreaterThan(1e-4);
  });
});

describe("XLM-RoBERTa / E5 (xlmr-tiny) against transformers", () => {
  const texts = readReferenceJson("xlmr-tiny").texts;

  test.each([
    ["plain", ""],
    ["query", "query: "],
  ] as const)("last_hidden_state matches HF within 1e-5 (%s, fixed and dynamic)", async (variant, prefix) => {
    using m = await encoder(XLMR, "xlm-roberta", "none");
    const tokenizer = await TextTokenizer.fromPretrained(XLMR);
    for (const mode of ["fixed", "dynamic"] as const) {
      using got = await run(m, tokenizer, texts, mode === "fixed" ? "max_length" : "longest", prefix);
      const ref = readReferenceTensor("xlmr-tiny", `${variant}.${mode}.cpu.last_hidden_state`);
      expect(got.shape).toEqual(ref.shape);
      expect(maxAbsDiff(got.toFloat32Array(), ref.data)).toBeLessThan(TOL);
    }
  });

  test.each([
    ["max_length", "fixed"],
    ["longest", "dynamic"],
  ] as const)("TextToTextE5Model: queries get \"query: \" and match HF mean_pool_l2 (padding %s)", async (padding, mode) => {
    using model = await TextToTextE5Model.fromPretrained(XLMR, { maxLength: 32, padding, itemPrefix: "" });
    expect(model.queryPrefix).toBe("query: ");
    const queryRef = readReferenceTensor("xlmr-tiny", `query.${mode}.cpu.mean_pool_l2`).data;
    for (const [i, text] of texts.entries()) {
      if (text.trim() === "") continue;
      using q = await model.forwardQuery(text);
      expect(maxAbsDiff(q.toFloat32Array(), rows(queryRef, 64, i))).toBeLessThan(TOL);
    }
    using items = await model.forwardItems(texts);
    expect(maxAbsDiff(items.toFloat32Array(), readReferenceTensor("xlmr-tiny", `plain.${mode}.cpu.mean_pool_l2`).data)).toBeLessThan(TOL);
  });

  test("E5 defaults: items get \"passage: \", so they differ from the unprefixed reference", async () => {
    using model = await TextToTextE5Model.fromPretrained(XLMR, { maxLength: 32 });
    expect(model.itemPrefix).toBe("passage: ");
    using items = await model.forwardItems([texts[0] as string]);
    expect(maxAbsDiff(items.toFloat32Array(), rows(readReferenceTensor("xlmr-tiny", "plain.dynamic.cpu.mean_pool_l2").data, 64, 0))).toBeGreaterThan(1e-3);
  });

  test("an E5 embedding does not depend on padding (8 vs 32 tokens) or on its batch (1e-6)", async () => {
    using model = await TextToTextE5Model.fromPretrained(XLMR, { maxLength: 32, padding: "longest", itemPrefix: "" });
    const short = "red";
    expect(model.tokenizer.encodeBatch([short]).length).toBeLessThan(8);
    using alone = await model.forwardItems([short]);
    using inBatch = await model.forwardItems([texts[6] as string, short, "a b c d e"]);
    const embedPadded = async (length: number) => {
      const enc = model.tokenizer.encodeBatch([short], { maxLength: length, padding: "max_length" });
      expect(enc.length).toBe(length);
      using ids = Tensor.from(enc.inputIds, [1, length]);
      using mask = Tensor.from(enc.attentionMask, [1, length]);
      return model.getItemsModel().forwardTensor({ input_ids: ids, attention_mask: mask });
    };
    using eight = await embedPadded(8);
    using full = await embedPadded(32);
    const a = alone.toFloat32Array();
    expect(maxAbsDiff(a, rows(inBatch.toFloat32Array(), 64, 1))).toBeLessThan(1e-6);
    expect(maxAbsDiff(a, eight.toFloat32Array())).toBeLessThan(1e-6);
    expect(maxAbsDiff(a, full.toFloat32Array())).toBeLessThan(1e-6);
  });
});
