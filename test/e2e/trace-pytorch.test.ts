/**
 * Files traced by this package, read by Debian's PyTorch (torch.jit.load):
 * the weights are parameters, forward keeps the input names, and the outputs
 * equal the eager C++ model's on batch sizes and lengths other than the example's.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, Tensor, saveTorchScript } from "../../lib";
import { readCheckpointWeights, readConfig, scalarOptions } from "../../lib/hub/checkpoint";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { pythonTorchMissing } from "../helpers/python";
import { rows, viewInPyTorch, type IntCase } from "../helpers/python-torchscript";
import { disposeAll, referenceMaskedMean, tokenBatch, tokenTensors } from "../helpers/token-batches";
import { reportSkip } from "../helpers/skip";

const missing = pythonTorchMissing();
const describeWithPython = missing ? describe.skip : describe;
if (missing) reportSkip(`skipped tracing-with-PyTorch tests: ${missing}`);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-trace-py-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function int64(table: readonly (readonly number[])[]): Tensor {
  return Tensor.from(BigInt64Array.from(table.flat(), (v) => BigInt(v)), [table.length, table[0]?.length ?? 0]);
}

describeWithPython("traced files in PyTorch", () => {
  test("masked-mean: PyTorch sees parameters (no frozen weights) and the input names, and computes the eager outputs within 1e-6 at batch 1, 3, 17 x length 5, 12", async () => {
    using model = Module.create("masked-mean", { vocab_size: 60, hidden_size: 16 });
    const example = tokenTensors(tokenBatch(2, 12, 60, 11));
    const file = path.join(dir, "masked-mean.pt");
    await saveTorchScript(model, example, file);
    disposeAll(example);

    const batches = [1, 3, 17].flatMap((batch) => [5, 12].map((length) => tokenBatch(batch, length, 60, batch * 31 + length)));
    const cases: IntCase[] = batches.map((b) => ({ input_ids: rows(b.ids, b.batch, b.length), attention_mask: rows(b.mask, b.batch, b.length) }));
    const view = viewInPyTorch(file, cases);
    expect(view.parameters).toEqual(model.namedParameters().map((p) => [p.name, p.shape]));
    expect(view.parameters.length).toBeGreaterThan(0);
    expect(view.arguments).toEqual(["input_ids", "attention_mask"]);
    expect(view.getAttr).toBe(true);
    expect(view.largeConstants).toBe(0);
    for (const [i, b] of batches.entries()) {
      const inputs = tokenTensors(b);
      using eager = await model.forwardTensor(inputs);
      disposeAll(inputs);
      const py = view.outputs[i];
      expect(py?.shape).toEqual([b.batch, 16]);
      expect(maxAbsDiff(py?.values ?? [], eager.toFloat32Array())).toBeLessThan(1e-6);
      expect(maxAbsDiff(py?.values ?? [], referenceMaskedMean(model, b))).toBeLessThan(1e-6);
    }
  });

  test("BERT (bert-tiny, pooler): the trace reproduces transformers' pooler_output in PyTorch within 1e-5, and the eager C++ encoder within 1e-6 at batch 1, 3, 17 x length 5, 32", async () => {
    const checkpoint = path.join(FIXTURES, "bert-tiny");
    using model = Module.create("bert", { ...scalarOptions(await readConfig(checkpoint)), pooling: "pooler" });
    const weights = await readCheckpointWeights(checkpoint, ["bert"]);
    await model.loadStateDict(weights);
    for (const t of weights.values()) t.dispose();
    const ref = readReferenceJson("bert-tiny");
    const fixedIds = ref.intRows("fixed.input_ids");
    const fixedMask = ref.intRows("fixed.attention_mask");
    using ids = int64(fixedIds);
    using mask = int64(fixedMask);
    const file = path.join(dir, "bert.pt");
    await saveTorchScript(model, { input_ids: ids, attention_mask: mask }, file);

    const cyclic = (table: number[][], batch: number, length: number) => Array.from({ length: batch }, (_, r) => (table[r % table.length] as number[]).slice(0, length));
    const variants: IntCase[] = [1, 3, 17].flatMap((batch) => [5, 32].map((length) => ({ input_ids: cyclic(fixedIds, batch, length), attention_mask: cyclic(fixedMask, batch, length) })));
    const cases: IntCase[] = [
      { input_ids: fixedIds, attention_mask: fixedMask },
      { input_ids: ref.intRows("dynamic.input_ids"), attention_mask: ref.intRows("dynamic.attention_mask") },
      ...variants,
    ];
    const view = viewInPyTorch(file, cases);
    expect(view.parameters.map(([name]) => name).sort()).toEqual(model.namedParameters().map((p) => p.name).sort());
    expect(view.parameters).toContainEqual(["encoder.layer.2.attention.self.query.weight", [64, 64]]);
    expect(view.arguments).toEqual(["input_ids", "attention_mask"]);
    expect(view.largeConstants).toBe(0);
    expect(maxAbsDiff(view.outputs[0]?.values ?? [], readReferenceTensor("bert-tiny", "fixed.cpu.pooler_output").data)).toBeLessThan(1e-5);
    expect(maxAbsDiff(view.outputs[1]?.values ?? [], readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data)).toBeLessThan(1e-5);
    for (const [i, c] of variants.entries()) {
      using vIds = int64(c.input_ids as number[][]);
      using vMask = int64(c.attention_mask as number[][]);
      using eager = await model.forwardTensor({ input_ids: vIds, attention_mask: vMask });
      const py = view.outputs[i + 2];
      expect(py?.shape).toEqual([vIds.shape[0], 64]);
      expect(maxAbsDiff(py?.values ?? [], eager.toFloat32Array())).toBeLessThan(1e-6);
    }
  });
});
