import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, ShapeError, Tensor, saveTorchScript } from "../../lib";
import { maxAbsDiff } from "../helpers/fixtures";
import { disposeAll, referenceMaskedMean, tokenBatch, tokenTensors } from "../helpers/token-batches";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-trace-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MAX_LENGTH = 12;

describe("saveTorchScript (tracing C++ models)", () => {
  test("a masked-mean model traced at batch 2 x length 12 computes the JS reference at batch 1, 3, 17 and lengths 5 and 12", async () => {
    using model = Module.create("masked-mean", { vocab_size: 50, hidden_size: 8 });
    const example = tokenTensors(tokenBatch(2, MAX_LENGTH, 50, 1));
    const file = path.join(dir, "masked-mean.pt");
    await saveTorchScript(model, example, file);
    disposeAll(example);
    using traced = await Module.loadTorchScript(file);
    expect(traced.kind).toBe("torchscript");
    expect(traced.inputNames).toEqual(["input_ids", "attention_mask"]);
    for (const batch of [1, 3, 17]) {
      for (const length of [5, MAX_LENGTH]) {
        const b = tokenBatch(batch, length, 50, 100 + batch * length);
        const inputs = tokenTensors(b);
        using got = await traced.forwardTensor(inputs);
        disposeAll(inputs);
        expect(got.shape).toEqual([batch, 8]);
        expect(maxAbsDiff(got.toFloat32Array(), referenceMaskedMean(model, b))).toBeLessThan(1e-6);
      }
    }
  });

  test("the traced file's weights are parameters: it lists the model's names, and new weights change its output", async () => {
    using model = Module.create("masked-mean", { vocab_size: 50, hidden_size: 8 });
    const example = tokenTensors(tokenBatch(2, 6, 50, 2));
    const file = path.join(dir, "params.pt");
    await saveTorchScript(model, example, file);
    using traced = await Module.loadTorchScript(file);
    expect(traced.namedParameters().map((p) => [p.name, p.shape])).toEqual(model.namedParameters().map((p) => [p.name, p.shape]));
    using before = await traced.forwardTensor(example);
    // Were the weights frozen into the graph as constants, loading others would change nothing.
    using other = Module.create("masked-mean", { vocab_size: 50, hidden_size: 8 });
    const state = other.stateDict();
    await traced.loadStateDict(state);
    for (const t of state.values()) t.dispose();
    using after = await traced.forwardTensor(example);
    const b = tokenBatch(2, 6, 50, 2);
    expect(maxAbsDiff(before.toFloat32Array(), referenceMaskedMean(model, b))).toBeLessThan(1e-6);
    expect(maxAbsDiff(after.toFloat32Array(), referenceMaskedMean(other, b))).toBeLessThan(1e-6);
    expect(maxAbsDiff(after.toFloat32Array(), before.toFloat32Array())).toBeGreaterThan(1e-3);
    disposeAll(example);
  });

  test("an optional input given in the example (token_type_ids) becomes a third named argument and is used", async () => {
    using model = Module.create("masked-mean", { vocab_size: 50, hidden_size: 8 });
    const example = tokenTensors(tokenBatch(3, 7, 50, 3), ["token_type_ids", "input_ids", "attention_mask"]);
    const file = path.join(dir, "types.pt");
    await saveTorchScript(model, example, file);
    disposeAll(example);
    using traced = await Module.loadTorchScript(file);
    expect(traced.inputNames).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
    const b = tokenBatch(4, 9, 50, 4);
    const inputs = tokenTensors(b, ["input_ids", "attention_mask", "token_type_ids"]);
    using got = await traced.forwardTensor(inputs);
    disposeAll(inputs);
    expect(maxAbsDiff(got.toFloat32Array(), referenceMaskedMean(model, b, true))).toBeLessThan(1e-6);
  });

  test("an MLP (float input [B, 8]) traced at batch 4 works at batch 1, 3 and 17", async () => {
    using model = Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
    using x = Tensor.from(new Float32Array(32).map((_, i) => Math.sin(i)), [4, 8]);
    const file = path.join(dir, "mlp.pt");
    await saveTorchScript(model, { input: x }, file);
    using traced = await Module.loadTorchScript(file);
    expect(traced.inputNames).toEqual(["input"]);
    for (const batch of [1, 3, 17]) {
      using input = Tensor.from(new Float32Array(batch * 8).map((_, i) => Math.cos(i * 0.7)), [batch, 8]);
      using eager = await model.forwardTensor([input]);
      using got = await traced.forwardTensor([input]);
      expect(got.shape).toEqual([batch, 4]);
      expect(maxAbsDiff(got.toFloat32Array(), eager.toFloat32Array())).toBeLessThan(1e-6);
    }
  });

  test("a module in training mode is traced in eval mode and put back in training mode", async () => {
    using model = Module.create("mlp", {});
    model.train();
    using x = Tensor.from(new Float32Array(16), [2, 8]);
    await saveTorchScript(model, { input: x }, path.join(dir, "train.pt"));
    expect(model.isTraining).toBe(true);
    using traced = await Module.loadTorchScript(path.join(dir, "train.pt"));
    expect(traced.isTraining).toBe(false);
  });

  test("a trace that fails (inputs of the wrong shape) is a ShapeError and writes no file", async () => {
    using model = Module.create("masked-mean", {});
    using ids = Tensor.from(new BigInt64Array(6), [2, 3]);
    using mask = Tensor.from(new BigInt64Array(8), [2, 4]);
    const file = path.join(dir, "failed.pt");
    await expect(saveTorchScript(model, { input_ids: ids, attention_mask: mask }, file)).rejects.toThrow(
      expect.objectContaining({ name: "ShapeError", message: expect.stringMatching(/input_ids and attention_mask must both be \[batch, length\], got \[2, 3\] and \[2, 4\]/) }),
    );
    await expect(saveTorchScript(model, { input_ids: ids, attention_mask: mask }, file)).rejects.toThrow(ShapeError);
    expect(fs.existsSync(file)).toBe(false);
  });

  test("example inputs the model does not take, non-Tensors and missing folders are rejected before tracing", async () => {
    using model = Module.create("masked-mean", {});
    using ids = Tensor.from(new BigInt64Array(4), [2, 2]);
    await expect(saveTorchScript(model, { input_ids: ids, pixel_values: ids }, path.join(dir, "x.pt"))).rejects.toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/forward takes no input named "pixel_values"; it takes input_ids, attention_mask, token_type_ids/) }),
    );
    await expect(saveTorchScript(model, { input_ids: [1, 2] as unknown as Tensor }, path.join(dir, "x.pt"))).rejects.toThrow(
      expect.objectContaining({ name: "TypeError", message: expect.stringMatching(/example input "input_ids" must be a Tensor but received array\(2\)/) }),
    );
    await expect(saveTorchScript(model, { input_ids: ids }, path.join(dir, "absent", "x.pt"))).rejects.toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/folder .*absent does not exist/) }),
    );
    expect(fs.existsSync(path.join(dir, "x.pt"))).toBe(false);
  });
});
