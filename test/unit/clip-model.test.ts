import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Tensor } from "../../lib";
import { backward, namedGradients } from "../../lib/autograd";
import { FIXTURES, readReference } from "../helpers/fixtures";

import { TextToImageClipModel } from "../../lib/models/clip";

const DIR = path.join(FIXTURES, "clip-tiny");

/** Parameters of the vision tower that fixItemModel(1) must freeze: embeddings and layer 0. */
const frozenByFixItem1 = (name: string): boolean => name.startsWith("vision_model.embeddings.") || name.startsWith("vision_model.encoder.layers.0.");

describe("freezing", () => {
  test("fixItemModel(1) sets requiresGrad false on exactly the vision embeddings and layer 0; the text tower is untouched", async () => {
    using model = await TextToImageClipModel.fromPretrained(DIR);
    model.fixItemModel(1);
    const params = model.getItemsModelParams();
    const frozen = params.filter((p) => !p.requiresGrad).map((p) => p.name);
    expect(frozen.sort()).toEqual(params.map((p) => p.name).filter(frozenByFixItem1).sort());
    expect(frozen).toEqual(expect.arrayContaining(["vision_model.embeddings.class_embedding", "vision_model.embeddings.patch_embedding.weight", "vision_model.encoder.layers.0.self_attn.q_proj.weight"]));
    expect(model.getQueryModelParams().every((p) => p.requiresGrad)).toBe(true);
    model.unfixItemModel();
    expect(model.getItemsModelParams().every((p) => p.requiresGrad)).toBe(true);
  });

  test("fixQueryModel(1) freezes the token and position embeddings and text layer 0 only", async () => {
    using model = await TextToImageClipModel.fromPretrained(DIR);
    model.fixQueryModel(1);
    const frozen = model.getQueryModelParams().filter((p) => !p.requiresGrad).map((p) => p.name);
    expect(frozen.length).toBe(2 + 16); // 2 embeddings + 16 tensors of one layer
    expect(frozen.every((n) => n.startsWith("text_model.embeddings.") || n.startsWith("text_model.encoder.layers.0."))).toBe(true);
  });

  test("after fixItemModel(1), a backward pass on a text-image loss leaves the frozen grads null and fills every other grad", async () => {
    using model = await TextToImageClipModel.fromPretrained(DIR);
    model.fixItemModel(1);
    const ref = readReference("clip-tiny");
    using pixels = Tensor.from(ref.tensor("pixel_values").subarray(0, 3072), [1, 3, 32, 32]);
    const { input_ids: ids } = await model.getQueryModelInputs();
    using image = await model.getItemsModel().forwardTensor([pixels], { grad: true });
    using text = await model.getQueryModel().forwardTensor([ids as Tensor], { grad: true });
    ids?.dispose();
    // loss = <image, text>: d/d image = text, d/d text = image
    await backward([image, text], [text, image]);
    const vision = namedGradients(model.getItemsModel());
    for (const [name, grad] of vision) {
      if (frozenByFixItem1(name)) expect([name, grad]).toEqual([name, null]);
      else {
        expect([name, grad]).not.toEqual([name, null]);
        expect(Math.max(...Array.from((grad as Tensor).toFloat32Array(), Math.abs))).toBeGreaterThan(0);
      }
      grad?.dispose();
    }
    const textGrads = namedGradients(model.getQueryModel());
    expect([...textGrads.values()].every((g) => g !== null)).toBe(true);
    for (const g of textGrads.values()) g?.dispose();
  });

  test("backward without gradients on a non-scalar output is a ShapeError; on an output without a graph a TorchError", async () => {
    using model = await TextToImageClipModel.fromPretrained(DIR);
    const { pixel_values: pixels } = await model.getItemsModelInputs();
    using withGraph = await model.getItemsModel().forwardTensor([pixels as Tensor], { grad: true });
    using noGraph = await model.getItemsModel().forwardTensor([pixels as Tensor]);
    pixels?.dispose();
    await expect(backward(withGraph)).rejects.toMatchObject({ name: "ShapeError", message: expect.stringMatching(/outputs\[0\] is \[1, 32\], not a scalar/) });
    await expect(backward(noGraph, noGraph)).rejects.toMatchObject({ code: "ERR_TORCH", message: expect.stringMatching(/outputs\[0\] has no autograd graph/) });
  });

  test("freezing every layer, a negative count or a fraction is a RangeError (the one rule of lib/models/freeze.ts)", async () => {
    using model = await TextToImageClipModel.fromPretrained(DIR);
    expect(() => model.fixQueryModel(2)).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/fixQueryModel: numFixedLayers must be an integer in \[0, 1\] \(the tower has 2 layers and one must stay trainable\) but received number 2/) }));
    expect(() => model.fixItemModel(-1)).toThrow(RangeError);
    expect(() => model.fixItemModel(1.5)).toThrow(expect.objectContaining({ name: "RangeError" }));
  });
});

describe("TextToImageClipModel inputs and errors", () => {
  let model: TextToImageClipModel;
  beforeAll(async () => {
    model = await TextToImageClipModel.fromPretrained(DIR);
  });
  afterAll(() => model.dispose());

  test("items example inputs come from the shipped assets/clip-example.png as pixel_values float32 [1, 3, 32, 32]", async () => {
    expect(fs.existsSync(path.join(__dirname, "..", "..", "assets", "clip-example.png"))).toBe(true);
    const { pixel_values: pixels, ...rest } = await model.getItemsModelInputs("cpu");
    expect(rest).toEqual({});
    using p = pixels as Tensor;
    expect([p.shape, p.dtype]).toEqual([[1, 3, 32, 32], "float32"]);
    using embeds = await model.getItemsModel().forwardTensor([p]);
    expect(embeds.shape).toEqual([1, 32]);
  });

  test("forwardItems with corrupt bytes or a missing file rejects with an ImageError naming the item", async () => {
    const png = path.join(DIR, "image0.png");
    await expect(model.forwardItems([png, Buffer.from([0x89, 0x50, 0x4e, 0x47])])).rejects.toMatchObject({ name: "ImageError", index: 1, message: expect.stringMatching(/^forwardItems: images\[1\] \(Buffer\(4 bytes\)\)/) });
    await expect(model.forwardItems(["/nonexistent/x.jpg"])).rejects.toMatchObject({ name: "ImageError", index: 0, source: "/nonexistent/x.jpg" });
    await expect(model.forwardItems([])).rejects.toThrow(RangeError);
  });

  test("with batchSize 2, a bad third item is named by its index in the whole list (items[2]), not in its batch", async () => {
    using small = await TextToImageClipModel.fromPretrained(DIR, { batchSize: 2 });
    const png = path.join(DIR, "image0.png");
    await expect(small.forwardItems([png, png, Buffer.from("junk")])).rejects.toMatchObject({ name: "ImageError", index: 2, message: expect.stringMatching(/images\[2\]/) });
  });

  test("a config.json that disagrees with the weights (1 text layer, checkpoint has 2) is a CheckpointError listing the unexpected keys", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clip-config-"));
    try {
      for (const f of fs.readdirSync(DIR)) if (f !== "config.json") fs.symlinkSync(path.join(DIR, f), path.join(dir, f));
      const config = JSON.parse(fs.readFileSync(path.join(DIR, "config.json"), "utf8"));
      config.text_config.num_hidden_layers = 1;
      fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
      await expect(TextToImageClipModel.fromPretrained(dir)).rejects.toMatchObject({
        code: "ERR_CHECKPOINT",
        message: expect.stringMatching(/the clip-text tower's keys do not match config.json \(unexpected text_model.encoder.layers.1\./),
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the vision tower rejects pixel_values of another size with a ShapeError naming the input and both shapes", async () => {
    using small = Tensor.from(new Float32Array(3 * 16 * 16), [1, 3, 16, 16]);
    await expect(model.getItemsModel().forward([small])).rejects.toMatchObject({ name: "ShapeError", message: expect.stringMatching(/clip-vision: pixel_values must be \[batch, 3, 32, 32\] \(image_size 32\), got \[1, 3, 16, 16\]/) });
  });

  test("the text tower rejects more than max_position_embeddings tokens and a mismatched mask with ShapeErrors", async () => {
    using long = Tensor.from(new BigInt64Array(78), [1, 78]);
    await expect(model.getQueryModel().forward([long])).rejects.toMatchObject({ name: "ShapeError", message: expect.stringMatching(/input_ids \[1, 78\] has 78 positions but max_position_embeddings is 77/) });
    using ids = Tensor.from(new BigInt64Array(10), [2, 5]);
    using mask = Tensor.from(new BigInt64Array(8), [2, 4]);
    await expect(model.getQueryModel().forward([ids, mask])).rejects.toMatchObject({ name: "ShapeError", message: expect.stringMatching(/attention_mask must have input_ids' shape \[2, 5\], got \[2, 4\]/) });
  });

  test("a folder that is not a CLIP checkpoint is a CheckpointError naming config.json and model_type", async () => {
    await expect(TextToImageClipModel.fromPretrained(path.join(FIXTURES, "bert-tiny"))).rejects.toMatchObject({
      code: "ERR_CHECKPOINT",
      message: expect.stringMatching(/bert-tiny\/config.json: model_type is "bert", expected "clip"/),
    });
    await expect(TextToImageClipModel.fromPretrained(DIR, { batchSize: 0 })).rejects.toThrow(RangeError);
  });

  test("a disposed model throws DisposedError naming the method; dispose is idempotent", async () => {
    const other = await TextToImageClipModel.fromPretrained(DIR);
    other.dispose();
    other.dispose();
    expect(() => other.fixQueryModel(0)).toThrow(expect.objectContaining({ name: "DisposedError", message: "TextToImageClipModel.fixQueryModel: the model was disposed" }));
    await expect(other.forwardQuery("x")).rejects.toMatchObject({ name: "DisposedError" });
  });
});
