import * as path from "node:path";

import { Module, Tensor } from "../../lib";
import { readSafetensors, entryToTensor } from "../../lib/hub/safetensors";
import { readClipConfig } from "../../lib/models/clip/config";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson } from "../helpers/fixtures";
import { minRowCosine } from "../helpers/inference-scenarios";

import { TextToImageClipModel } from "../../lib/models/clip";

const DIR = path.join(FIXTURES, "clip-tiny");
const CHECKPOINT = path.join(DIR, "model.safetensors");
const TOLERANCE = 1e-5; // fixtures/README.md: embeddings and pooled outputs, float32 on CPU

/** A tower with the fixture's weights; `output` "pooler_output" stops before the projection. */
async function tower(kind: "clip-text" | "clip-vision", output: "embeds" | "pooler_output" = "embeds"): Promise<Module> {
  const config = await readClipConfig(DIR, "test");
  const module = Module.create(kind, { ...(kind === "clip-text" ? config.text : config.vision), output });
  const file = await readSafetensors(CHECKPOINT);
  const prefixes = kind === "clip-text" ? ["text_model.", "text_projection."] : ["vision_model.", "visual_projection."];
  const tensors = new Map([...file.tensors].filter(([k]) => prefixes.some((p) => k.startsWith(p))).map(([k, e]) => [k, entryToTensor(e)]));
  await module.loadStateDict(tensors); // strict: the tower's parameters are exactly these keys
  for (const t of tensors.values()) t.dispose();
  return module;
}

/** The fixture's ids (stored as float32) as an int64 tensor. */
function inputIds(key: "input_ids" | "attention_mask"): Tensor {
  const ref = readReference("clip-tiny");
  const values = ref.tensor(key);
  return Tensor.from(BigInt64Array.from(values, (v) => BigInt(v)), ref.shape(key));
}

describe("clip-tiny towers against transformers", () => {
  const ref = readReference("clip-tiny");

  test("the text tower's parameters are exactly the checkpoint's text_model.* and text_projection keys", async () => {
    using text = await tower("clip-text");
    const file = await readSafetensors(CHECKPOINT);
    const own = [...file.tensors.keys()].filter((k) => k.startsWith("text_model.") || k === "text_projection.weight").sort();
    expect(text.namedParameters().map((p) => p.name).sort()).toEqual(own);
  });

  test("the vision tower's parameters are exactly the checkpoint's vision_model.* and visual_projection keys (pre_layrnorm spelling kept)", async () => {
    using vision = await tower("clip-vision");
    const file = await readSafetensors(CHECKPOINT);
    const own = [...file.tensors.keys()].filter((k) => k.startsWith("vision_model.") || k === "visual_projection.weight").sort();
    expect(vision.namedParameters().map((p) => p.name).sort()).toEqual(own);
    expect(own).toContain("vision_model.pre_layrnorm.weight");
  });

  test("text embeddings of the 8 fixture input_ids (padded to 77, with attention_mask) match text_embeds within 1e-5", async () => {
    using text = await tower("clip-text");
    using ids = inputIds("input_ids");
    using mask = inputIds("attention_mask");
    using got = await text.forwardTensor({ input_ids: ids, attention_mask: mask });
    expect(got.shape).toEqual([8, 32]);
    const diff = maxAbsDiff(got.toFloat32Array(), ref.tensor("text_embeds"));
    console.log(`text_embeds max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(TOLERANCE);
  });

  test("without attention_mask the embeddings are the same: causal attention never sees the padding before end-of-text", async () => {
    using text = await tower("clip-text");
    using ids = inputIds("input_ids");
    using got = await text.forwardTensor([ids]);
    expect(maxAbsDiff(got.toFloat32Array(), ref.tensor("text_embeds"))).toBeLessThan(TOLERANCE);
  });

  test("text pooler output (final LayerNorm at the end-of-text token) matches text_pooler_output within 1e-5", async () => {
    using text = await tower("clip-text", "pooler_output");
    using ids = inputIds("input_ids");
    using mask = inputIds("attention_mask");
    using got = await text.forwardTensor([ids, mask]);
    expect(got.shape).toEqual([8, 64]);
    expect(maxAbsDiff(got.toFloat32Array(), ref.tensor("text_pooler_output"))).toBeLessThan(TOLERANCE);
  });

  test("image embeddings of the fixture pixel_values match image_embeds within 1e-5", async () => {
    using vision = await tower("clip-vision");
    using pixels = Tensor.from(ref.tensor("pixel_values"), ref.shape("pixel_values"));
    using got = await vision.forwardTensor({ pixel_values: pixels });
    expect(got.shape).toEqual([3, 32]);
    const diff = maxAbsDiff(got.toFloat32Array(), ref.tensor("image_embeds"));
    console.log(`image_embeds max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(TOLERANCE);
  });

  test("vision pooler output (post_layernorm of the class token) matches vision_pooler_output within 1e-5", async () => {
    using vision = await tower("clip-vision", "pooler_output");
    using pixels = Tensor.from(ref.tensor("pixel_values"), ref.shape("pixel_values"));
    using got = await vision.forwardTensor([pixels]);
    expect(got.shape).toEqual([3, 64]);
    expect(maxAbsDiff(got.toFloat32Array(), ref.tensor("vision_pooler_output"))).toBeLessThan(TOLERANCE);
  });

  test("the parity check is sensitive: perturbing one vision bias element by 1e-2 moves image_embeds beyond 1e-4", async () => {
    using vision = await tower("clip-vision");
    const state = vision.stateDict();
    const key = "vision_model.encoder.layers.1.mlp.fc2.bias";
    // One element, not the whole bias: a shift of every element is removed by post_layernorm.
    const bias = (state.get(key) as Tensor).toFloat32Array().map((v, i) => (i === 0 ? v + 1e-2 : v));
    using perturbed = Tensor.from(bias, [bias.length]);
    await vision.loadStateDict(new Map([[key, perturbed]]), { strict: false });
    for (const t of state.values()) t.dispose();
    using pixels = Tensor.from(ref.tensor("pixel_values"), ref.shape("pixel_values"));
    using got = await vision.forwardTensor([pixels]);
    expect(maxAbsDiff(got.toFloat32Array(), ref.tensor("image_embeds"))).toBeGreaterThan(1e-4);
  });
});

describe("TextToImageClipModel on clip-tiny", () => {
  const ref = readReference("clip-tiny");
  const texts = readReferenceJson("clip-tiny").texts;
  let model: TextToImageClipModel;
  beforeAll(async () => {
    model = await TextToImageClipModel.fromPretrained(DIR);
  });
  afterAll(() => model.dispose());

  test("query example inputs are positional-ready input_ids int64 [1, 77]: <|startoftext|> ... <|endoftext|>, padded with <|endoftext|>", async () => {
    expect(model.isNamedInputs).toBe(false);
    const inputs = await model.getQueryModelInputs();
    expect(Object.keys(inputs)).toEqual(["input_ids"]);
    using ids = inputs["input_ids"] as Tensor;
    expect([ids.shape, ids.dtype]).toEqual([[1, 77], "int64"]);
    const row = Array.from(ids.data() as BigInt64Array, Number);
    const end = row.indexOf(1); // eos_token_id = pad = 1 in clip-tiny
    expect(row[0]).toBe(0);
    expect(end).toBeGreaterThan(1);
    expect(row.slice(end).every((id) => id === 1)).toBe(true);
  });

  test.each(texts.map((t, i) => [i, t] as const))("forwardQuery(text %i: %s) matches text_embeds[i] within 1e-5 (the fixture's tokens through the text tower)", async (i, text) => {
    using got = await model.forwardQuery(text);
    expect(got.shape).toEqual([1, 32]);
    expect(maxAbsDiff(got.toFloat32Array(), ref.tensor("text_embeds").subarray(i * 32, (i + 1) * 32))).toBeLessThan(TOLERANCE);
  });
});

describe("TextToImageClipModel runs texts at their own length, not the 77 positions", () => {
  const ref = readReference("clip-tiny");
  const texts = readReferenceJson("clip-tiny").texts;
  const padded = ref.tensor("input_ids"); // the fixture's rows, padded to 77 with end-of-text (1)
  /** Tokens of fixture row i up to and including its first end-of-text. */
  const ownLength = (i: number): number => Array.from(padded.subarray(i * 77, (i + 1) * 77)).indexOf(1) + 1;
  let model: TextToImageClipModel;
  let seen: number[];
  beforeAll(async () => {
    model = await TextToImageClipModel.fromPretrained(DIR);
  });
  afterAll(() => model.dispose());
  beforeEach(() => {
    seen = [];
    const original = Module.prototype.forwardTensor;
    jest.spyOn(Module.prototype, "forwardTensor").mockImplementation(function (this: Module, inputs, options) {
      seen.push(...(Array.isArray(inputs) ? inputs : Object.values(inputs)).map((t) => t.shape[1] as number));
      return original.call(this, inputs, options);
    });
  });
  afterEach(() => jest.restoreAllMocks());

  test("forwardQuery: the text tower sees [1, tokens through end-of-text], and each row equals the 77-padded forward within float32 rounding (5e-6)", async () => {
    using ids = inputIds("input_ids");
    using full = await model.getQueryModel().forwardTensor([ids]); // [8, 32]: every row at 77 positions (the model owns its tower)
    for (let i = 0; i < texts.length; i++) {
      seen = [];
      using got = await model.forwardQuery(texts[i] as string);
      expect(seen).toEqual([ownLength(i)]);
      expect(ownLength(i)).toBeLessThanOrEqual(77);
      expect(maxAbsDiff(got.toFloat32Array(), full.toFloat32Array().subarray(i * 32, (i + 1) * 32))).toBeLessThan(5e-6);
    }
    expect(texts.map((_, i) => ownLength(i)).some((n) => n < 77)).toBe(true); // the fixture has short texts, so the check above is not vacuous
  });

  test("encodeQueries pads a batch to its longest text; rows equal transformers' text_embeds within 1e-5", async () => {
    const short = [0, 7]; // two short fixture texts of different lengths
    expect(ownLength(0)).not.toBe(ownLength(7));
    using got = await model.encodeQueries(short.map((i) => texts[i] as string), { grad: false });
    expect(seen).toEqual([Math.max(ownLength(0), ownLength(7))]);
    const want = ref.tensor("text_embeds");
    short.forEach((i, row) => expect(maxAbsDiff(got.toFloat32Array().subarray(row * 32, (row + 1) * 32), want.subarray(i * 32, (i + 1) * 32))).toBeLessThan(TOLERANCE));
  });

  test("the traced example stays [1, 77] (Triton's input dims)", async () => {
    const inputs = await model.getQueryModelInputs();
    using ids = inputs["input_ids"] as Tensor;
    expect(ids.shape).toEqual([1, 77]);
  });
});

describe("TextToImageClipModel with dtype bfloat16", () => {
  const ref = readReference("clip-tiny");
  const texts = readReferenceJson("clip-tiny").texts;
  const images = [0, 1, 2].map((i) => path.join(DIR, `image${i}.png`));
  let model: TextToImageClipModel;
  beforeAll(async () => {
    // The tower's weights are bfloat16 whatever the CPU (Module.to converts unconditionally); fromPretrained
    // alone would load float32 on a CPU without bf16 matrix instructions (test/unit/cpu-features.test.ts).
    model = await TextToImageClipModel.fromPretrained(DIR, { dtype: "bfloat16" });
    model.getQueryModel().to("bfloat16");
    model.getItemsModel().to("bfloat16");
  });
  afterAll(() => model.dispose());

  test("queries (micro-batched, at their own lengths) and images: every embedding within cosine 0.999 of transformers' float32", async () => {
    const rows = await Promise.all(texts.map((t) => model.forwardQuery(t)));
    expect(rows.every((r) => r.dtype === "bfloat16")).toBe(true);
    const got = Float32Array.from(rows.flatMap((r) => Array.from(r.to("float32").toFloat32Array())));
    rows.forEach((r) => r.dispose());
    const text = minRowCosine(got, ref.tensor("text_embeds"), 32);
    using pictures = await model.forwardItems(images);
    using pictures32 = pictures.to("float32");
    const image = minRowCosine(pictures32.toFloat32Array(), ref.tensor("image_embeds"), 32);
    console.log(`bfloat16 vs transformers float32: text cosine >= ${text.toFixed(6)}, image cosine >= ${image.toFixed(6)}`);
    expect(text).toBeGreaterThanOrEqual(0.999);
    expect(image).toBeGreaterThanOrEqual(0.999);
    expect(text).toBeLessThan(1 - 1e-9); // bfloat16 really ran: float32 would agree to ~1e-12
  });
});
