import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError, TextToTextBertModel, TextToTextE5Model, UnsupportedError } from "../../lib";
import { copyFixture } from "../helpers/checkpoints";
import { FIXTURES } from "../helpers/fixtures";

const BERT = path.join(FIXTURES, "bert-tiny");

describe("text models: bad input names the problem", () => {
  const made: string[] = [];
  afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  test("a folder without weights is a CheckpointError listing what the folder has", async () => {
    const dir = copyFixture("bert-tiny", ["model.safetensors", "traced_pooler.pt", "traced_pooler_eager.pt"]);
    made.push(dir);
    await expect(TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(CheckpointError);
    await expect(TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(/no model\.safetensors or model\.safetensors\.index\.json \(the folder has: config\.json/);
  });

  test("pickled weights are refused, not unpickled", async () => {
    const dir = copyFixture("bert-tiny", ["model.safetensors"]);
    made.push(dir);
    fs.writeFileSync(path.join(dir, "pytorch_model.bin"), "pickle");
    await expect(TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(/found .*pytorch_model\.bin.*: pickled weights are not loaded/);
  });

  test("a truncated model.safetensors is a CheckpointError naming the file", async () => {
    const dir = copyFixture("bert-tiny");
    made.push(dir);
    const file = path.join(dir, "model.safetensors");
    fs.truncateSync(file, fs.statSync(file).size - 4096);
    await expect(TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: tensor ".*": data_offsets end`));
  });

  test("a config of an unsupported architecture is an UnsupportedError naming model_type", async () => {
    const dir = copyFixture("bert-tiny");
    made.push(dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, model_type: "gpt2" }));
    await expect(TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(UnsupportedError);
    await expect(TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(/model_type "gpt2" is not supported by TextToTextBertModel; supported: bert, xlm-roberta, roberta/);
  });

  test("weights that do not fit the config name the tensor and both shapes", async () => {
    const dir = copyFixture("bert-tiny");
    made.push(dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, intermediate_size: 96 }));
    await expect(TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(/encoder\.layer\.0\.intermediate\.dense\.weight: module \[96, 64\], checkpoint \[128, 64\]/);
  });

  test("a missing folder and a non-folder say so", async () => {
    await expect(TextToTextBertModel.fromPretrained("/nonexistent/bert")).rejects.toThrow(/\/nonexistent\/bert: not a folder/);
  });

  test("texts that are not strings, an empty item list and bad options are TypeErrors/RangeErrors", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    await expect(model.forwardItems(["ok", 3 as unknown as string])).rejects.toThrow(expect.objectContaining({ name: "TypeError", message: "forwardItems: item 1 must be a string but received number 3" }));
    await expect(model.forwardItems([])).rejects.toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/empty array/) }));
    await expect(model.forwardQuery(null as unknown as string)).rejects.toThrow(expect.objectContaining({ name: "TypeError", message: "forwardQuery: expected a string but received null" }));
    await expect(TextToTextBertModel.fromPretrained(BERT, { maxLength: 64 })).rejects.toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/maxLength must be an integer in \[2, 32\]/) }));
    await expect(TextToTextBertModel.fromPretrained(BERT, { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
  });

  test("forwardQuery(\"\") warns and still returns a [1, dim] embedding", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT);
    const warn = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    using q = await model.forwardQuery("");
    expect(q.shape).toEqual([1, 64]);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/query is empty/), expect.objectContaining({ code: "EMBEDDINGS_TORCH_EMPTY_QUERY" }));
    warn.mockRestore();
  });

  test("large item lists run in batches of batchSize and come back in order", async () => {
    using small = await TextToTextE5Model.fromPretrained(path.join(FIXTURES, "xlmr-tiny"), { batchSize: 4 });
    using big = await TextToTextE5Model.fromPretrained(path.join(FIXTURES, "xlmr-tiny"), { batchSize: 100 });
    const items = Array.from({ length: 23 }, (_, i) => `item number ${i} ${"x".repeat(i % 5)}`);
    using a = await small.forwardItems(items);
    using b = await big.forwardItems(items);
    expect(a.shape).toEqual([23, 64]);
    const x = a.toFloat32Array();
    const y = b.toFloat32Array();
    for (let i = 0; i < x.length; i++) expect(Math.abs((x[i] as number) - (y[i] as number))).toBeLessThan(1e-6);
  });
});

describe("freezing sets requires_grad per parameter", () => {
  test("fixQueryModel(2) freezes embeddings and layers 0-1 only; unfixQueryModel restores all", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT);
    model.fixQueryModel(2);
    const params = [...model.getQueryModelParams()];
    const frozen = params.filter((p) => !p.requiresGrad).map((p) => p.name);
    expect(frozen.length).toBeGreaterThan(0);
    expect(frozen.every((n) => n.startsWith("embeddings.") || n.startsWith("encoder.layer.0.") || n.startsWith("encoder.layer.1."))).toBe(true);
    expect(params.filter((p) => p.name.startsWith("embeddings.") || /^encoder\.layer\.[01]\./.test(p.name)).every((p) => !p.requiresGrad)).toBe(true);
    expect(params.filter((p) => p.name.startsWith("encoder.layer.2.") || p.name.startsWith("pooler.")).every((p) => p.requiresGrad)).toBe(true);
    model.unfixQueryModel();
    expect([...model.getQueryModelParams()].every((p) => p.requiresGrad)).toBe(true);
  });

  test("fixing as many layers as the model has is a RangeError naming both numbers", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT);
    expect(() => model.fixQueryModel(3)).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/^fixQueryModel: numFixedLayers must be an integer in \[0, 2\] \(the tower has 3 layers/) }));
    expect(() => model.fixItemModel(-1)).toThrow(RangeError);
  });
});
