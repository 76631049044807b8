/**
 * TorchScript files from PyTorch 2.11 (the bert-tiny fixtures): a clear error
 * for operators this libtorch lacks, transformers' pooler_output from the
 * eager-attention trace, and TorchScriptEmbeddingsModel over it (tokenizer
 * included) exported to Triton as one shared model.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, Tensor, TorchScriptEmbeddingsModel, UnsupportedError, exportToTriton, runtimeInfo } from "../../lib";
import { fixturePath, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { pythonTorchMissing } from "../helpers/python";
import { parseTritonConfigs, serveConfigInPyTorch, tritonParserMissing } from "../helpers/triton-config";
import { reportSkip } from "../helpers/skip";

const TINY = path.dirname(fixturePath("bert-tiny", "config.json"));
const EAGER = fixturePath("bert-tiny", "traced_pooler_eager.pt");

function int64(table: readonly (readonly number[])[]): Tensor {
  return Tensor.from(BigInt64Array.from(table.flat(), (v) => BigInt(v)), [table.length, table[0]?.length ?? 0]);
}

/** Row `i` of a [n, 64] reference. */
function row(data: Float32Array, i: number, width = 64): Float32Array {
  return data.subarray(i * width, (i + 1) * width);
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-tsmodel-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("TorchScript files saved by PyTorch 2.11", () => {
  test("traced_pooler.pt (aten::scaled_dot_product_attention) is an UnsupportedError naming the operator, the file and this libtorch", async () => {
    const file = fixturePath("bert-tiny", "traced_pooler.pt");
    const version = runtimeInfo().torchVersion;
    const attempt = Module.loadTorchScript(file);
    await expect(attempt).rejects.toThrow(UnsupportedError);
    const error = await Module.loadTorchScript(file).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "UnsupportedError", code: "ERR_UNSUPPORTED" });
    const message = (error as Error).message;
    expect(message).toContain(`loadTorchScript("${file}")`);
    expect(message).toContain("the file uses operator aten::scaled_dot_product_attention, which this libtorch");
    expect(message).toContain(`(${version}) does not have`);
    expect(message).toMatch(/attn_implementation="eager"/);
  });

  test.each(["fixed", "dynamic"])("traced_pooler_eager.pt returns transformers' pooler_output on the %s inputs within 3e-7", async (kind) => {
    const ref = readReferenceJson("bert-tiny");
    using m = await Module.loadTorchScript(EAGER);
    expect(m.inputNames).toEqual(["input_ids", "attention_mask"]);
    using ids = int64(ref.intRows(`${kind}.input_ids`));
    using mask = int64(ref.intRows(`${kind}.attention_mask`));
    using y = await m.forwardTensor({ input_ids: ids, attention_mask: mask });
    expect(y.shape).toEqual([8, 64]);
    expect(maxAbsDiff(y.toFloat32Array(), readReferenceTensor("bert-tiny", `${kind}.cpu.pooler_output`).data)).toBeLessThan(3e-7);
  });
});

test("to(\"float64\") casts a TorchScript module's floating parameters and buffers only: its int64 index buffers stay int64 and the forward gives transformers' pooler_output (was: gather() on a float64 index)", async () => {
  const ref = readReferenceJson("bert-tiny");
  using m = await Module.loadTorchScript(EAGER);
  m.to("float64");
  expect(m.namedParameters().every((p) => p.dtype === "float64")).toBe(true);
  const buffers = m.stateDict();
  expect(buffers.get("m.embeddings.position_ids")?.dtype).toBe("int64");
  expect(buffers.get("m.embeddings.token_type_ids")?.dtype).toBe("int64");
  for (const t of buffers.values()) t.dispose();
  using ids = int64(ref.intRows("dynamic.input_ids"));
  using mask = int64(ref.intRows("dynamic.attention_mask"));
  using y = await m.forwardTensor({ input_ids: ids, attention_mask: mask });
  expect(y.dtype).toBe("float64");
  expect(maxAbsDiff(y.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data)).toBeLessThan(3e-7);
});

describe("TorchScriptEmbeddingsModel (traced_pooler_eager.pt + the bert-tiny tokenizer)", () => {
  test("forwardItems and forwardQuery give transformers' pooler_output within 1e-5, batched or not", async () => {
    const ref = readReferenceJson("bert-tiny");
    const expected = readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data;
    using model = await TorchScriptEmbeddingsModel.load({ queryModel: EAGER, tokenizer: TINY });
    expect(model.sameQueryAndItems).toBe(true);
    expect(model.isNamedInputs).toBe(true);
    using items = await model.forwardItems(ref.texts);
    expect(items.shape).toEqual([8, 64]);
    expect(maxAbsDiff(items.toFloat32Array(), expected)).toBeLessThan(1e-5);
    for (const i of [0, 3, 7]) {
      using q = await model.forwardQuery(ref.texts[i] as string);
      expect(q.shape).toEqual([1, 64]);
      expect(maxAbsDiff(q.toFloat32Array(), row(expected, i))).toBeLessThan(1e-5);
    }
    using batched = await TorchScriptEmbeddingsModel.load({ queryModel: EAGER, tokenizer: TINY, batchSize: 3 });
    using parts = await batched.forwardItems(ref.texts);
    expect(maxAbsDiff(parts.toFloat32Array(), expected)).toBeLessThan(1e-5);
  });

  test("fixQueryModel(2) freezes the embeddings and layers 0-1 only; 3 layers make fixQueryModel(3) a RangeError", async () => {
    using model = await TorchScriptEmbeddingsModel.load({ queryModel: EAGER, tokenizer: TINY });
    model.fixQueryModel(2);
    const frozen = [...model.getQueryModelParams()].filter((p) => !p.requiresGrad).map((p) => p.name);
    expect(frozen.length).toBeGreaterThan(0);
    expect(frozen.every((n) => /^m\.(embeddings\.|encoder\.layer\.[01]\.)/.test(n))).toBe(true);
    expect(frozen).toContain("m.embeddings.word_embeddings.weight");
    expect(frozen).toContain("m.encoder.layer.1.output.dense.weight");
    const trainable = [...model.getQueryModelParams()].filter((p) => p.requiresGrad).map((p) => p.name);
    expect(trainable).toContain("m.encoder.layer.2.output.dense.weight");
    expect(trainable).toContain("m.pooler.dense.weight");
    expect(() => model.fixQueryModel(3)).toThrow(expect.objectContaining({ name: "RangeError", message: "fixQueryModel: numFixedLayers must be an integer in [0, 2] (the tower has 3 layers and one must stay trainable) but received number 3" }));
    model.unfixQueryModel();
    expect([...model.getQueryModelParams()].every((p) => p.requiresGrad)).toBe(true);
  });

  test("bad arguments are TypeErrors and RangeErrors naming them", async () => {
    using model = await TorchScriptEmbeddingsModel.load({ queryModel: EAGER, tokenizer: TINY });
    await expect(model.forwardItems([])).rejects.toThrow(expect.objectContaining({ name: "RangeError", message: "forwardItems: expected at least one item" }));
    await expect(model.forwardItems(["shoes", 5])).rejects.toThrow(expect.objectContaining({ name: "TypeError", message: "forwardItems: items[1] must be a string but received number 5" }));
    await expect(model.forwardQuery(7 as unknown as string)).rejects.toThrow(expect.objectContaining({ name: "TypeError", message: "forwardQuery: expected a string but received number 7" }));
    await expect(TorchScriptEmbeddingsModel.load({ queryModel: EAGER, tokenizer: TINY, maxLength: 128 })).rejects.toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/maxLength 128 exceeds the tokenizer's model_max_length \(32\)/) }),
    );
    await expect(TorchScriptEmbeddingsModel.load({ queryModel: path.join(dir, "absent.pt"), tokenizer: TINY })).rejects.toThrow(
      expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/queryModel .*absent\.pt does not exist/) }),
    );
  });

  test("dispose frees both towers once; later use is a DisposedError", async () => {
    const model = await TorchScriptEmbeddingsModel.load({ queryModel: EAGER, tokenizer: TINY });
    const module = model.getQueryModel();
    model.dispose();
    model.dispose();
    expect(module.isDisposed).toBe(true);
    await expect(model.forwardQuery("shoes")).rejects.toThrow(expect.objectContaining({ name: "DisposedError", message: "TorchScriptEmbeddingsModel: the model was disposed" }));
  });

  const tools = pythonTorchMissing() ?? tritonParserMissing();
  if (tools) reportSkip(`skipped: exportToTriton of TorchScript models (${tools})`);
  (tools ? test.skip : test)("exportToTriton: one shared file is exported once, as one model both towers use; two files as <name>_query and <name>_items", async () => {
    const repo = path.join(dir, "repo");
    using shared = await TorchScriptEmbeddingsModel.load({ queryModel: EAGER, tokenizer: TINY });
    const one = await exportToTriton(shared, { repository: repo, name: "tiny" });
    expect(one.shared).toBe(true);
    expect(one.query.modelName).toBe("tiny");
    expect(one.items.modelName).toBe("tiny");
    expect(fs.readdirSync(repo)).toEqual(["tiny"]);

    const copy = path.join(dir, "items.pt");
    fs.copyFileSync(EAGER, copy);
    using separate = await TorchScriptEmbeddingsModel.load({ queryModel: EAGER, itemsModel: copy, tokenizer: TINY });
    expect(separate.sameQueryAndItems).toBe(false);
    const two = await exportToTriton(separate, { repository: repo, name: "pair", serving: { maxBatchSize: 8 } });
    expect([two.query.modelName, two.items.modelName]).toEqual(["pair_query", "pair_items"]);
    expect(fs.readdirSync(repo).sort()).toEqual(["pair_items", "pair_query", "tiny"]);

    const [s, q, i] = parseTritonConfigs([one.query.configPath, two.query.configPath, two.items.configPath]);
    expect(s?.dynamic_batching?.default_priority_level).toBe(2);
    expect(fs.readFileSync(one.query.configPath, "utf8")).toMatch(/# Role: shared\./);
    expect(q?.dynamic_batching?.default_priority_level).toBe(1);
    expect(i?.dynamic_batching?.default_priority_level).toBe(2);
    expect(q?.max_batch_size).toBe(8);
    for (const c of [s, q, i]) {
      expect(c?.input).toEqual([
        { name: "input_ids", data_type: "TYPE_INT64", dims: [-1] },
        { name: "attention_mask", data_type: "TYPE_INT64", dims: [-1] },
      ]);
      expect(c?.output).toEqual([{ name: "OUTPUT__0", data_type: "TYPE_FP32", dims: [64] }]);
    }
    expect(serveConfigInPyTorch(one.query.configPath, path.join(one.query.versionDir, "model.pt"), 3, [4, 32]).outputShapes).toEqual([[[3, 64]], [[3, 64]]]);
    // the exported file still computes transformers' pooler_output
    const ref = readReferenceJson("bert-tiny");
    using exported = await Module.loadTorchScript(path.join(one.query.versionDir, "model.pt"));
    using ids = int64(ref.intRows("fixed.input_ids"));
    using mask = int64(ref.intRows("fixed.attention_mask"));
    using y = await exported.forwardTensor({ input_ids: ids, attention_mask: mask });
    expect(maxAbsDiff(y.toFloat32Array(), readReferenceTensor("bert-tiny", "fixed.cpu.pooler_output").data)).toBeLessThan(3e-7);
    // a second export of the same version is refused before anything is written
    await expect(exportToTriton(separate, { repository: repo, name: "pair" })).rejects.toThrow(expect.objectContaining({ name: "DeployedVersionError" }));
  });
});
