/**
 * SentenceTransformerModel on sentence-transformers folders built around the
 * fixtures. Every expected embedding is computed here, in float64, from what
 * transformers computed (the fixture's last_hidden_state and attention_mask),
 * with each pooling mode written out as sentence-transformers defines it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { SentenceTransformerModel, TextTokenizer, UnsupportedError } from "../../lib";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { pseudoRandom, writeSentenceTransformersFolder, type Stage } from "../helpers/sentence-transformers-folder";

// fixtures/README.md: a correct float32 implementation stays below 1e-5 on CPU.
const TOL = 1e-5;
const H = 64;

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "st-parity-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The fixture's token states [n][L][H] and attention mask [n][L] (transformers' output), as float64 rows. */
function reference(fixture: "bert-tiny" | "xlmr-tiny", prefix: string): { states: number[][][]; mask: number[][] } {
  const hidden = readReferenceTensor(fixture, `${prefix}.cpu.last_hidden_state`);
  const maskRef = readReferenceTensor(fixture, `${prefix}.attention_mask`);
  const [n = 0, L = 0] = hidden.shape;
  const states = Array.from({ length: n }, (_, b) => Array.from({ length: L }, (_, t) => Array.from(hidden.data.subarray((b * L + t) * H, (b * L + t + 1) * H))));
  const mask = Array.from({ length: n }, (_, b) => Array.from(maskRef.data.subarray(b * L, (b + 1) * L)));
  return { states, mask };
}

/** sentence-transformers' pooling of one text, by mode (its Pooling docs and source). */
function expectedPool(states: number[][], mask: number[], mode: string): number[] {
  const real = mask.flatMap((m, t) => (m === 1 ? [t] : []));
  const column = (h: number) => real.map((t) => (states[t] as number[])[h] as number);
  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
  return Array.from({ length: H }, (_, h) => {
    switch (mode) {
      case "cls": return (states[real[0] ?? 0] as number[])[h] as number;
      case "lasttoken": return (states[real.at(-1) as number] as number[])[h] as number;
      case "max": return Math.max(...column(h));
      case "mean": return sum(column(h)) / real.length;
      case "mean_sqrt_len_tokens": return sum(column(h)) / Math.sqrt(real.length);
      case "weightedmean": return sum(real.map((t) => (t + 1) * ((states[t] as number[])[h] as number))) / sum(real.map((t) => t + 1));
      default: throw new Error(mode);
    }
  });
}

const l2 = (v: number[]) => {
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return v.map((x) => x / norm);
};

const MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"] as const;

describe("SentenceTransformerModel pooling against float64 references from transformers' last_hidden_state (bert-tiny)", () => {
  const texts = readReferenceJson("bert-tiny").texts;
  const ref = reference("bert-tiny", "dynamic");

  test.each(MODES)("pooling_mode %s, alone and followed by Normalize, matches within 1e-5", async (mode) => {
    for (const normalize of [false, true]) {
      const stages: Stage[] = [{ kind: "pooling", config: { embedding_dimension: H, pooling_mode: mode, include_prompt: true } }];
      if (normalize) stages.push({ kind: "normalize" });
      const dir = await writeSentenceTransformersFolder(path.join(root, `bert-${mode}-${normalize}`), { fixture: "bert-tiny", stages });
      using model = await SentenceTransformerModel.fromPretrained(dir);
      using got = await model.forwardItems(texts);
      const expected = ref.states.flatMap((s, b) => (normalize ? l2 : (v: number[]) => v)(expectedPool(s, ref.mask[b] as number[], mode)));
      expect(got.shape).toEqual([8, H]);
      const diff = maxAbsDiff(got.toFloat32Array(), expected);
      console.log(`pooling ${mode}${normalize ? " + Normalize" : ""}: max abs diff ${diff.toExponential(2)} (native head: ${model.isNativePipeline})`);
      expect(diff).toBeLessThan(TOL);
    }
  });

  test("the older pooling_mode_*_tokens flags (cls and mean) concatenate in sentence-transformers' order: [cls, mean]", async () => {
    const config = { word_embedding_dimension: H, pooling_mode_cls_token: true, pooling_mode_mean_tokens: true, pooling_mode_max_tokens: false };
    const dir = await writeSentenceTransformersFolder(path.join(root, "bert-legacy"), { fixture: "bert-tiny", stages: [{ kind: "pooling", config }] });
    using model = await SentenceTransformerModel.fromPretrained(dir);
    using got = await model.forwardItems(texts);
    expect(got.shape).toEqual([8, 2 * H]);
    const expected = ref.states.flatMap((s, b) => [...expectedPool(s, ref.mask[b] as number[], "cls"), ...expectedPool(s, ref.mask[b] as number[], "mean")]);
    expect(maxAbsDiff(got.toFloat32Array(), expected)).toBeLessThan(TOL);
  });

  test("Pooling -> Dense(tanh, 64 -> 24) -> Normalize matches within 1e-5; savePretrained writes the sentence-transformers layout and reloads to the same reference", async () => {
    const weight = pseudoRandom(24 * H, 7, 0.3);
    const bias = pseudoRandom(24, 11, 0.1);
    const stages: Stage[] = [
      { kind: "pooling", config: { embedding_dimension: H, pooling_mode: "mean_sqrt_len_tokens" } },
      { kind: "dense", inFeatures: H, outFeatures: 24, activation: "torch.nn.modules.activation.Tanh", weight, bias },
      { kind: "normalize" },
    ];
    const dir = await writeSentenceTransformersFolder(path.join(root, "bert-dense"), { fixture: "bert-tiny", stages });
    const expected = ref.states.flatMap((s, b) => {
      const pooled = expectedPool(s, ref.mask[b] as number[], "mean_sqrt_len_tokens");
      const dense = Array.from({ length: 24 }, (_, o) => Math.tanh((bias[o] as number) + pooled.reduce((a, x, i) => a + (weight[o * H + i] as number) * x, 0)));
      return l2(dense);
    });
    const saved = path.join(root, "bert-dense-saved");
    {
      using model = await SentenceTransformerModel.fromPretrained(dir);
      using got = await model.forwardItems(texts);
      expect(got.shape).toEqual([8, 24]);
      const diff = maxAbsDiff(got.toFloat32Array(), expected);
      console.log(`Pooling(mean_sqrt_len_tokens) -> Dense(tanh) -> Normalize: max abs diff ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(TOL);
      await model.savePretrained(saved);
    }
    const modules = JSON.parse(fs.readFileSync(path.join(saved, "modules.json"), "utf8")) as { path: string; type: string }[];
    expect(modules.map((m) => [m.path, m.type.split(".").at(-1)])).toEqual([["", "Transformer"], ["1_Pooling", "Pooling"], ["2_Dense", "Dense"], ["3_Normalize", "Normalize"]]);
    for (const file of ["config.json", "model.safetensors", "tokenizer.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors"])
      expect(fs.existsSync(path.join(saved, file))).toBe(true);
    using reloaded = await SentenceTransformerModel.fromPretrained(saved);
    using again = await reloaded.forwardItems(texts);
    expect(maxAbsDiff(again.toFloat32Array(), expected)).toBeLessThan(TOL);
  });
});

describe("SentenceTransformerModel prompts, include_prompt and max_seq_length (xlmr-tiny, E5's architecture)", () => {
  const texts = readReferenceJson("xlmr-tiny").texts;
  const query = reference("xlmr-tiny", "query.dynamic");

  test("mean + Normalize runs natively; the \"query\" prompt becomes the query prefix; queries and items match transformers' mean_pool_l2 within 1e-5", async () => {
    const stages: Stage[] = [{ kind: "pooling", config: { embedding_dimension: H, pooling_mode: "mean" } }, { kind: "normalize" }];
    const dir = await writeSentenceTransformersFolder(path.join(root, "xlmr-e5"), { fixture: "xlmr-tiny", stages, prompts: { query: "query: " } });
    using model = await SentenceTransformerModel.fromPretrained(dir);
    expect(model.isNativePipeline).toBe(true);
    expect([model.queryPrefix, model.itemPrefix]).toEqual(["query: ", ""]);
    using queries = await model.encodeQueries(texts, { grad: false });
    using items = await model.forwardItems(texts);
    expect(maxAbsDiff(queries.toFloat32Array(), readReferenceTensor("xlmr-tiny", "query.dynamic.cpu.mean_pool_l2").data)).toBeLessThan(TOL);
    expect(maxAbsDiff(items.toFloat32Array(), readReferenceTensor("xlmr-tiny", "plain.dynamic.cpu.mean_pool_l2").data)).toBeLessThan(TOL);
  });

  test("include_prompt false leaves <s> and the prompt's tokens out of the mean (sentence-transformers' prompt_length) within 1e-5", async () => {
    const stages: Stage[] = [{ kind: "pooling", config: { embedding_dimension: H, pooling_mode: "mean", include_prompt: false } }];
    const dir = await writeSentenceTransformersFolder(path.join(root, "xlmr-instructor"), { fixture: "xlmr-tiny", stages, prompts: { query: "query: " } });
    using model = await SentenceTransformerModel.fromPretrained(dir);
    expect(model.isNativePipeline).toBe(false);
    using got = await model.encodeQueries(texts, { grad: false });
    // sentence-transformers' prompt_length: the prompt tokenised alone ("<s> ▁query : ▁ </s>": its trailing
    // space is a token of its own), less the closing special token. The tokenizer is held to transformers'
    // ids in test/parity/tokenization.test.ts.
    const alone = (await TextTokenizer.fromPretrained(path.join(FIXTURES, "xlmr-tiny"))).encodeBatch(["query: "], { maxLength: 32, padding: "longest" });
    expect(Array.from(alone.inputIds, Number)).toEqual([0, 5, 609, 463, 12, 5, 2]);
    const promptLength = alone.length - 1;
    const expected = query.states.flatMap((s, b) => {
      const mask = (query.mask[b] as number[]).map((m, t) => (t < promptLength ? 0 : m));  // right padding: the first prompt_length positions
      return expectedPool(s, mask, "mean");
    });
    expect(maxAbsDiff(got.toFloat32Array(), expected)).toBeLessThan(TOL);
  });

  test("max_seq_length from sentence_bert_config.json is the default maxLength; an explicit maxLength wins", async () => {
    const stages: Stage[] = [{ kind: "pooling", config: { embedding_dimension: H, pooling_mode: "cls" } }];
    const dir = await writeSentenceTransformersFolder(path.join(root, "xlmr-16"), { fixture: "xlmr-tiny", stages, maxSeqLength: 16 });
    using short = await SentenceTransformerModel.fromPretrained(dir);
    using explicit = await SentenceTransformerModel.fromPretrained(dir, { maxLength: 24 });
    expect([short.maxLength, explicit.maxLength]).toEqual([16, 24]);
    const longest = short.tokenizer.encodeBatch(texts, { maxLength: short.maxLength, padding: "longest" });
    expect(longest.length).toBe(16);
  });
});

describe("SentenceTransformerModel refusals", () => {
  test("an unknown pooling mode, an unsupported activation and a module type it cannot run are UnsupportedErrors naming the file", async () => {
    const bad = await writeSentenceTransformersFolder(path.join(root, "bad-mode"), { fixture: "bert-tiny", stages: [{ kind: "pooling", config: { pooling_mode: "median" } }] });
    await expect(SentenceTransformerModel.fromPretrained(bad)).rejects.toThrow(new RegExp(`1_Pooling/config.json: pooling_mode "median" is not one of cls, max`));
    const gelu = await writeSentenceTransformersFolder(path.join(root, "bad-act"), {
      fixture: "bert-tiny",
      stages: [{ kind: "pooling", config: { pooling_mode: "mean" } }, { kind: "dense", inFeatures: H, outFeatures: 4, activation: "torch.nn.modules.activation.GELU", weight: new Float32Array(4 * H), bias: new Float32Array(4) }],
    });
    await expect(SentenceTransformerModel.fromPretrained(gelu)).rejects.toMatchObject({ name: "UnsupportedError", message: expect.stringContaining("2_Dense/config.json: activation_function \"torch.nn.modules.activation.GELU\"") });
    const modules = JSON.parse(fs.readFileSync(path.join(bad, "modules.json"), "utf8")) as object[];
    fs.writeFileSync(path.join(bad, "modules.json"), JSON.stringify([...modules.slice(0, 1), { idx: 1, name: "1", path: "1_LSTM", type: "sentence_transformers.models.LSTM" }]));
    await expect(SentenceTransformerModel.fromPretrained(bad)).rejects.toThrow(/module type sentence_transformers\.models\.LSTM is not supported/);
  });

  test("a head that runs on the host refuses training (encode with grad) and Triton export with UnsupportedError naming the head", async () => {
    const dir = await writeSentenceTransformersFolder(path.join(root, "cls-only"), { fixture: "bert-tiny", stages: [{ kind: "pooling", config: { pooling_mode: "cls" } }, { kind: "normalize" }] });
    using model = await SentenceTransformerModel.fromPretrained(dir);
    await expect(model.encodeQueries(["a"], { grad: true })).rejects.toThrow(UnsupportedError);
    await expect(model.encodeQueries(["a"], { grad: true })).rejects.toThrow(/Pooling\(cls\) -> Normalize/);
    expect(() => model.getQueryModelInferenceManagerClass()).toThrow(/Triton export needs the head to run natively/);
  });
});
