import * as path from "node:path";

import { Module, Tensor } from "../../lib";
import { readSafetensors, entryToTensor } from "../../lib/hub/safetensors";
import { readClipConfig } from "../../lib/models/clip/config";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson } from "../helpers/fixtures";

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

  test.each(texts.map((t, i) => [i, t] as const))("forwardQuery(text %i: %s) matches text_embeds[i] within 1e-5 (the fixture's token ids, padded to 77, through the text tower)", async (i, text) => {
    using got = await model.forwardQuery(text);
    expect(got.shape).toEqual([1, 32]);
    expect(maxAbsDiff(got.toFloat32Array(), ref.tensor("text_embeds").subarray(i * 32, (i + 1) * 32))).toBeLessThan(TOLERANCE);
  });
});
