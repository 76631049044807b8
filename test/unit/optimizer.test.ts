import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, Tensor } from "../../lib";
import { backward } from "../../lib/training/autograd";
import { rankingLoss } from "../../lib/training/losses";
import { Optimizer } from "../../lib/training/optimizer";
import { seededValues } from "../helpers/torch-reference";

function mlp(seed = 3): Module {
  const m = Module.create("mlp", { in_features: 4, hidden_features: 6, out_features: 3 });
  const shapes: Record<string, number[]> = { "fc1.weight": [6, 4], "fc1.bias": [6], "fc2.weight": [3, 6], "fc2.bias": [3] };
  void m.loadStateDict(new Map(Object.entries(shapes).map(([k, s], i) => [k, Tensor.from(seededValues(seed + i, s.reduce((a, b) => a * b, 1)), s)])));
  return m;
}

/** Forward three batches with grad and backward the margin loss (margin 2 keeps it active). */
async function lossBackward(m: Module, seed: number, scale = 1): Promise<void> {
  const embed = async (s: number) => {
    using x = Tensor.from(seededValues(s, 5 * 4), [5, 4]);
    return m.forwardTensor([x], { grad: true });
  };
  using q = await embed(seed);
  using p = await embed(seed + 1);
  using n = await embed(seed + 2);
  using loss = await rankingLoss({ kind: "cosine_margin", margin: 2 }, { query: q, positive: p, negative: n });
  await backward(loss, { scale });
}

function values(m: Module): Record<string, Float32Array> {
  const state = m.stateDict();
  const out = Object.fromEntries([...state].map(([k, t]) => [k, t.toFloat32Array()]));
  for (const t of state.values()) t.dispose();
  return out;
}

function grads(opt: Optimizer): Record<string, Float32Array> {
  const g = opt.gradients();
  const out = Object.fromEntries([...g].map(([k, t]) => [k, t.toFloat32Array()]));
  for (const t of g.values()) t.dispose();
  return out;
}

describe("Optimizer", () => {
  test("a parameter frozen after backward keeps its stale gradient out of the step: bit-identical under AdamW weight decay", async () => {
    using m = mlp();
    using opt = Optimizer.adamw(m, { lr: 0.1, weightDecay: 0.5 });
    await lossBackward(m, 10);
    expect(Object.keys(grads(opt)).sort()).toEqual(["0.fc1.bias", "0.fc1.weight", "0.fc2.bias", "0.fc2.weight"]);
    const before = values(m);
    m.setRequiresGrad("fc1", false);
    expect(opt.trainableCount).toBe(2);
    const result = await opt.step();
    expect(result.stepped).toBe(2);
    const after = values(m);
    expect(after["fc1.weight"]).toEqual(before["fc1.weight"]);
    expect(after["fc1.bias"]).toEqual(before["fc1.bias"]);
    expect(after["fc2.weight"]).not.toEqual(before["fc2.weight"]);
  });

  test("zeroGrad leaves no gradient at all, so a step without backward changes nothing (no decay of grad-less parameters)", async () => {
    using m = mlp();
    using opt = Optimizer.adamw(m, { lr: 0.1, weightDecay: 0.5 });
    await lossBackward(m, 10);
    await opt.step();
    opt.zeroGrad();
    expect(grads(opt)).toEqual({});
    const before = values(m);
    expect((await opt.step()).stepped).toBe(0);
    expect(values(m)).toEqual(before);
  });

  test("backward with scale 0.5 on two batches accumulates half the sum of their gradients", async () => {
    using a = mlp();
    using optA = Optimizer.sgd(a, { lr: 0.1 });
    await lossBackward(a, 20);
    const g1 = grads(optA);
    optA.zeroGrad();
    await lossBackward(a, 30);
    const g2 = grads(optA);
    optA.zeroGrad();
    await lossBackward(a, 20, 0.5);
    await lossBackward(a, 30, 0.5);
    const acc = grads(optA);
    for (const k of Object.keys(g1)) {
      const expected = g1[k]!.map((v, i) => 0.5 * (v + g2[k]![i]!));
      acc[k]!.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-6));
    }
  });

  test("clipGradNorm returns the norm before clipping and leaves gradients whose norm is maxNorm", async () => {
    using m = mlp();
    using opt = Optimizer.sgd(m, { lr: 0.1 });
    await lossBackward(m, 40);
    const norm = (g: Record<string, Float32Array>) => Math.sqrt(Object.values(g).reduce((s, t) => s + t.reduce((a, v) => a + v * v, 0), 0));
    const before = norm(grads(opt));
    const reported = await opt.clipGradNorm(before / 4);
    expect(Math.abs(reported - before) / before).toBeLessThan(1e-6);
    expect(Math.abs(norm(grads(opt)) - before / 4) / before).toBeLessThan(1e-5);
  });

  test("state saved after two AdamW steps and loaded into a fresh optimizer continues bit-identically", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-optim-"));
    using a = mlp();
    using optA = Optimizer.adamw(a, { lr: 0.05, amsgrad: true });
    using b = mlp();
    using optB = Optimizer.adamw(b, { lr: 0.05, amsgrad: true });
    for (const seed of [50, 60]) {
      for (const [m, o] of [[a, optA], [b, optB]] as const) {
        o.zeroGrad();
        await lossBackward(m, seed);
        await o.step();
      }
    }
    optB.setLearningRate(0.02);
    optA.setLearningRate(0.02);
    await optB.save(path.join(dir, "optimizer.safetensors"));
    await b.saveStateDict(path.join(dir, "model.safetensors"));
    using c = mlp(99);  // other weights: everything must come from the files
    await c.loadStateDict(path.join(dir, "model.safetensors"));
    using optC = Optimizer.adamw(c, { lr: 1, amsgrad: true });  // the learning rate comes from the file
    await optC.load(path.join(dir, "optimizer.safetensors"));
    expect(optC.learningRates).toEqual([0.02]);
    for (const [m, o] of [[a, optA], [c, optC]] as const) {
      o.zeroGrad();
      await lossBackward(m, 70);
      await o.step();
    }
    expect(values(c)).toEqual(values(a));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("learning rates are per group and settable per group or for all", () => {
    using a = mlp();
    using b = mlp(8);
    using opt = Optimizer.adamw([{ module: a, lr: 0.1 }, { module: b }], { lr: 0.01 });
    expect(opt.learningRates).toEqual([0.1, 0.01]);
    opt.setLearningRate(0.5, 1);
    expect(opt.learningRates).toEqual([0.1, 0.5]);
    opt.setLearningRate(0.25);
    expect(opt.learningRates).toEqual([0.25, 0.25]);
    expect(() => opt.setLearningRate(0.1, 2)).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/setLr: group must be an integer in \[0, 2\)/) }));
  });

  test("bad options and a module given twice are TypeErrors/RangeErrors naming the option", () => {
    using a = mlp();
    expect(() => Optimizer.sgd(a, { lr: 0.1, nesterov: true })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/nesterov needs momentum > 0 and dampening 0/) }));
    expect(() => Optimizer.adamw(a, { lr: -1 })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/adamw: lr: expected a finite number >= 0 but received -1/) }));
    expect(() => Optimizer.adamw(a, { lr: 0.1, betas: [0.9, 1.5] })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/betas\[1\]/) }));
    expect(() => Optimizer.adamw([{ module: a }, { module: a }], { lr: 0.1 })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/groups\[1\]\.module appears in an earlier group/) }));
    expect(() => Optimizer.adamw([{ module: "x" as never }], { lr: 0.1 })).toThrow(expect.objectContaining({ name: "TypeError", message: expect.stringMatching(/groups\[0\]\.module must be a Module but received string "x"/) }));
  });

  test("state of another shape or kind is a CheckpointError naming the parameter; nothing is restored", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-optim-"));
    using a = mlp();
    using opt = Optimizer.adamw(a, { lr: 0.1 });
    await lossBackward(a, 5);
    await opt.step();
    const state = opt.stateDict();
    using wrong = Tensor.from(new Float32Array(2), [2]);
    const bad = new Map(state);
    bad.set("0.fc1.bias.exp_avg", wrong);
    expect(() => opt.loadStateDict(bad)).toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/0\.fc1\.bias\.exp_avg: parameter \[6\], state \[2\]/) }));
    bad.delete("0.fc1.bias.exp_avg");
    expect(() => opt.loadStateDict(bad)).toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/0\.fc1\.bias: missing state field "exp_avg"/) }));
    await opt.save(path.join(dir, "adamw.safetensors"));
    using sgd = Optimizer.sgd(a, { lr: 0.1, momentum: 0.9 });
    await expect(sgd.load(path.join(dir, "adamw.safetensors"))).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/holds a adamw optimizer, this is sgd/) }));
    using amsgrad = Optimizer.adamw(a, { lr: 0.1, amsgrad: true });
    await expect(amsgrad.load(path.join(dir, "adamw.safetensors"))).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/hyperparameters \{"groupWeightDecay":\[null\]\} differ from this optimizer's \{"amsgrad":true,/) }));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("disposing the optimizer or its module while a step is in flight is a BusyError", async () => {
    using a = mlp();
    using opt = Optimizer.adamw(a, { lr: 0.1 });
    await lossBackward(a, 5);
    const pending = opt.step();
    expect(() => opt.dispose()).toThrow(expect.objectContaining({ name: "BusyError", message: expect.stringMatching(/still in flight/) }));
    expect(() => a.dispose()).toThrow(expect.objectContaining({ name: "BusyError" }));
    await pending;
    opt.dispose();
    expect(() => opt.learningRates).toThrow(expect.objectContaining({ name: "DisposedError", message: expect.stringMatching(/NativeOptimizer\.groupCount: the optimizer was disposed/) }));
  });
});
