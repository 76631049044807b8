/**
 * Exporting the text models to Triton (issue 4, after the text models merge):
 * the traced query model, read by Debian's PyTorch, reproduces transformers'
 * embeddings, and config.pbtxt describes what it accepts.
 *
 * Disabled until TextToTextBertModel and TextToTextE5Model land: enable by
 * removing this file from testPathIgnorePatterns (jest.config.js) and from
 * "exclude" (tsconfig.json). It needs, from lib/index.ts:
 * TextToTextBertModel.fromPretrained(dir, {maxLength}), TextToTextE5Model
 * (same), and on a model: getQueryModel(), getItemsModel(),
 * getQueryModelInputs(), getItemsModelInputs(), isNamedInputs,
 * sameQueryAndItems, get{Query,Items}ModelInferenceManagerClass(); and each
 * model file registering its CLI kind (registerModelKind("bert" | "e5", ...)).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { ModelStorageInfo, Tensor, TextToTextBertModel, TextToTextE5Model, exportToTriton, type EmbeddingsModelInterface } from "../../lib";
import { main } from "../../lib/cli";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { pythonTorchMissing } from "../helpers/python";
import { viewInPyTorch, type IntCase } from "../helpers/python-torchscript";
import { parseTritonConfig, serveConfigInPyTorch, tritonParserMissing } from "../helpers/triton-config";
import { reportSkip } from "../helpers/skip";

const missing = pythonTorchMissing() ?? tritonParserMissing();
const describeWithTools = missing ? describe.skip : describe;
if (missing) reportSkip(`skipped text-model export tests: ${missing}`);

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "et-export-text-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A [n, L] float32 reference (ids and masks are stored as float32) as integer rows. */
function intTable(model: string, key: string): number[][] {
  const { shape, data } = readReferenceTensor(model, key);
  const [n = 0, l = 0] = shape;
  return Array.from({ length: n }, (_, r) => Array.from(data.subarray(r * l, (r + 1) * l), Math.round));
}

/** Rows cycled to `batch` and cut to `length`: batch sizes and lengths other than the example's. */
function reshaped(table: number[][], batch: number, length: number): number[][] {
  return Array.from({ length: batch }, (_, r) => (table[r % table.length] as number[]).slice(0, length));
}

function int64(table: readonly (readonly number[])[]): Tensor {
  return Tensor.from(BigInt64Array.from(table.flat(), (v) => BigInt(v)), [table.length, table[0]?.length ?? 0]);
}

async function exportQuery(model: EmbeddingsModelInterface, name: string): Promise<ModelStorageInfo> {
  const info = new ModelStorageInfo({ repository: path.join(root, "repo"), modelName: name, version: 1 });
  const Manager = model.getQueryModelInferenceManagerClass();
  const inputs = await model.getQueryModelInputs("cpu");
  try {
    await new Manager(info).saveModel(model.getQueryModel(), inputs, model.isNamedInputs);
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
  }
  return info;
}

/** Python's outputs on `cases` vs the addon's eager query model on the same inputs. */
async function eagerParity(model: EmbeddingsModelInterface, outputs: { values: number[] }[], cases: readonly IntCase[]): Promise<number> {
  let worst = 0;
  for (const [i, c] of cases.entries()) {
    const record = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, int64(v)]));
    const y = await model.getQueryModel().forwardTensor(record);
    worst = Math.max(worst, maxAbsDiff(outputs[i]?.values ?? [], y.toFloat32Array()));
    y.dispose();
    for (const t of Object.values(record)) t.dispose();
  }
  return worst;
}

describeWithTools("Triton export of the text models", () => {
  test("TextToTextBertModel (bert-tiny): model.pt in PyTorch gives transformers' pooler_output within 1e-5 and the eager model within 1e-6 at batch 1, 3, 17 x length 5, 32; config.pbtxt agrees", async () => {
    using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32 });
    const info = await exportQuery(model, "bert_query");
    const ref = readReferenceJson("bert-tiny");
    const fixed = { input_ids: ref.intRows("fixed.input_ids"), attention_mask: ref.intRows("fixed.attention_mask") };
    const dynamic = { input_ids: ref.intRows("dynamic.input_ids"), attention_mask: ref.intRows("dynamic.attention_mask") };
    const variants: IntCase[] = [1, 3, 17].flatMap((b) => [5, 32].map((l) => ({ input_ids: reshaped(fixed.input_ids, b, l), attention_mask: reshaped(fixed.attention_mask, b, l) })));
    const view = viewInPyTorch(path.join(info.versionDir, "model.pt"), [fixed, dynamic, ...variants]);
    expect(view.parameters.length).toBeGreaterThan(0);
    expect(view.largeConstants).toBe(0);
    expect(maxAbsDiff(view.outputs[0]?.values ?? [], readReferenceTensor("bert-tiny", "fixed.cpu.pooler_output").data)).toBeLessThan(1e-5);
    expect(maxAbsDiff(view.outputs[1]?.values ?? [], readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data)).toBeLessThan(1e-5);
    expect(await eagerParity(model, view.outputs.slice(2), variants)).toBeLessThan(1e-6);

    const config = parseTritonConfig(info.configPath);
    expect(config.input.map((i) => [i.name, i.data_type, i.dims])).toEqual(view.arguments.map((a) => [a, "TYPE_INT64", [-1]]));
    expect(config.output).toEqual([{ name: "OUTPUT__0", data_type: "TYPE_FP32", dims: [64] }]);
    expect(config.dynamic_batching?.default_priority_level).toBe(model.sameQueryAndItems ? 2 : 1);
    expect(serveConfigInPyTorch(info.configPath, path.join(info.versionDir, "model.pt"), 3, [5, 32]).outputShapes).toEqual([[[3, 64]], [[3, 64]]]);
  });

  test("TextToTextE5Model (xlmr-tiny): model.pt gives transformers' mean_pool_l2 on the query inputs within 1e-5 and the eager model within 1e-6 at other shapes", async () => {
    using model = await TextToTextE5Model.fromPretrained(path.join(FIXTURES, "xlmr-tiny"), { maxLength: 32 });
    const info = await exportQuery(model, "e5_query");
    const fixed = { input_ids: intTable("xlmr-tiny", "query.fixed.input_ids"), attention_mask: intTable("xlmr-tiny", "query.fixed.attention_mask") };
    const dynamic = { input_ids: intTable("xlmr-tiny", "query.dynamic.input_ids"), attention_mask: intTable("xlmr-tiny", "query.dynamic.attention_mask") };
    const variants: IntCase[] = [1, 3, 17].flatMap((b) => [5, 32].map((l) => ({ input_ids: reshaped(fixed.input_ids, b, l), attention_mask: reshaped(fixed.attention_mask, b, l) })));
    const view = viewInPyTorch(path.join(info.versionDir, "model.pt"), [fixed, dynamic, ...variants]);
    expect(maxAbsDiff(view.outputs[0]?.values ?? [], readReferenceTensor("xlmr-tiny", "query.fixed.cpu.mean_pool_l2").data)).toBeLessThan(1e-5);
    expect(maxAbsDiff(view.outputs[1]?.values ?? [], readReferenceTensor("xlmr-tiny", "query.dynamic.cpu.mean_pool_l2").data)).toBeLessThan(1e-5);
    expect(await eagerParity(model, view.outputs.slice(2), variants)).toBeLessThan(1e-6);
    const config = parseTritonConfig(info.configPath);
    expect(config.input.map((i) => i.name)).toEqual(view.arguments);
    expect(serveConfigInPyTorch(info.configPath, path.join(info.versionDir, "model.pt"), 2, [7]).outputShapes).toEqual([[[2, 64]]]);
  });

  test("exportToTriton writes both towers (or one shared model) with queries outranking items", async () => {
    using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32 });
    const result = await exportToTriton(model, { repository: path.join(root, "both"), name: "bert" });
    expect(result.shared).toBe(model.sameQueryAndItems);
    const q = parseTritonConfig(result.query.configPath);
    const i = parseTritonConfig(result.items.configPath);
    if (result.shared) expect(result.query.modelName).toBe(result.items.modelName);
    else expect((q.dynamic_batching?.default_priority_level ?? 0) < (i.dynamic_batching?.default_priority_level ?? 0)).toBe(true);
  });

  test.each([
    ["bert", "bert-tiny"],
    ["e5", "xlmr-tiny"],
  ])("the CLI exports --kind %s", async (kind, fixture) => {
    const repo = path.join(root, `cli-${kind}`);
    const err: string[] = [];
    const code = await main(["export-triton", "--model", path.join(FIXTURES, fixture), "--kind", kind, "--repository", repo, "--name", kind, "--max-length", "32"], { stdout: () => undefined, stderr: (l) => err.push(l) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    for (const name of fs.readdirSync(repo)) expect(parseTritonConfig(path.join(repo, name, "config.pbtxt")).platform).toBe("pytorch_libtorch");
  });
});
