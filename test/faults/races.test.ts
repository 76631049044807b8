/**
 * Forwards racing optimizer steps on one module: each forward returns the
 * outputs of the weights before or after a step, never a mix, because a step
 * is refused while forwards are in flight and a forward is refused while a
 * step is (BusyError both ways). The expected outputs of every weight version
 * come from replaying the steps one at a time afterwards.
 */
import { BusyError, Module, Tensor, backward } from "../../lib";
import { Optimizer } from "../../lib/training/optimizer";
import { maxAbsDiff } from "../helpers/fixtures";

const maxAbs = (v: Float32Array): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

const IN = 64;

/** An MLP (random weights, or `weights`) with gradients of one backward, and SGD over it. */
async function setUp(weights?: ReadonlyMap<string, Tensor>): Promise<{ module: Module; optimizer: Optimizer; input: Tensor }> {
  const module = Module.create("mlp", { in_features: IN, hidden_features: 256, out_features: 32 });
  if (weights) await module.loadStateDict(weights);
  const input = Tensor.from(Float32Array.from({ length: 8 * IN }, (_, i) => Math.sin(i)), [8, IN]);
  // Gradients once; SGD without momentum then moves the weights by the same -lr * grad at every step.
  const out = (await module.forward([input], { grad: true })) as Tensor;
  await backward(out, Tensor.from(new Float32Array(out.shape.reduce((a, b) => a * b, 1)).fill(1), out.shape));
  out.dispose();
  return { module, optimizer: Optimizer.sgd(module, { lr: 0.05 }), input };
}

test("200 forwards racing steps: each result is the output of one weight version, and the refused calls are BusyErrors", async () => {
  const { module, optimizer, input } = await setUp();
  const initial = new Map([...module.stateDict()].map(([name, t]) => [name, Tensor.from(t.toFloat32Array(), t.shape)]));  // copies: the aliases move with the steps

  const results: Promise<Float32Array | "busy">[] = [];
  const steps: Promise<"stepped" | "busy">[] = [];
  const busy = (error: unknown): "busy" => {
    if (error instanceof BusyError) return "busy";
    throw error;
  };
  const forward = () => results.push(module.forwardTensor([input]).then((t) => { const v = t.toFloat32Array(); t.dispose(); return v; }, busy));
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 5; i++) forward();
    await new Promise((resolve) => setTimeout(resolve, round % 3));  // sometimes those forwards are done, sometimes not
    steps.push(optimizer.step().then(() => "stepped" as const, busy));
    for (let i = 0; i < 5; i++) forward();  // during the step, or after it
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const outcomes = await Promise.all(results);
  const stepOutcomes = await Promise.all(steps);
  const stepped = stepOutcomes.filter((s) => s === "stepped").length;

  // Replay: the outputs of weight versions 0..stepped, from the initial weights and the same gradients.
  const replay = await setUp(initial);
  const versions: Float32Array[] = [];
  for (let k = 0; k <= stepped; k++) {
    const t = await replay.module.forwardTensor([replay.input]);
    versions.push(t.toFloat32Array());
    t.dispose();
    if (k < stepped) await replay.optimizer.step();
  }
  const computed = outcomes.filter((o): o is Float32Array => o !== "busy");
  expect(computed.length).toBeGreaterThan(0);
  for (const got of computed) {
    // Float32 rounding of concurrent GEMMs (another summation order) is allowed; consecutive versions differ by far more.
    const distance = versions.map((v) => maxAbsDiff(v, got) / maxAbs(v));
    expect(Math.min(...distance)).toBeLessThan(1e-6);
  }
  for (let k = 1; k < versions.length; k++) {
    const previous = versions[k - 1] as Float32Array;
    expect(maxAbsDiff(versions[k] as Float32Array, previous) / maxAbs(previous)).toBeGreaterThan(1e-3);
  }
  expect(stepped).toBeGreaterThan(0);
  expect(outcomes.length + stepOutcomes.length).toBe(220);
  for (const m of [module, replay.module]) m.dispose();
  for (const t of initial.values()) t.dispose();
  for (const o of [optimizer, replay.optimizer]) o.dispose();
});

test("a forward during a step is refused with a BusyError naming the step; state changes during a step are refused too", async () => {
  const { module, optimizer, input } = await setUp();
  const step = optimizer.step();
  await expect(module.forwardTensor([input])).rejects.toThrow(BusyError);
  await expect(module.forwardTensor([input])).rejects.toThrow(/an optimizer step on this module is in flight/);
  expect(() => module.train()).toThrow(BusyError);
  expect(() => module.setRequiresGrad("fc1", false)).toThrow(BusyError);
  await step;
  const after = await module.forwardTensor([input]);
  expect(after.shape).toEqual([8, 32]);
  after.dispose();
  module.dispose();
  optimizer.dispose();
});

test("a step while forwards are in flight is refused with a BusyError naming the module, and the forwards complete", async () => {
  const { module, optimizer, input } = await setUp();
  const forwards = Array.from({ length: 5 }, () => module.forwardTensor([input]));
  await expect(optimizer.step()).rejects.toThrow(/call\(s\) on a module it updates \(mlp\) are in flight/);
  for (const t of await Promise.all(forwards)) t.dispose();
  await expect(optimizer.step()).resolves.toBeDefined();
  module.dispose();
  optimizer.dispose();
});

test("while a backward() writes a module's gradients, its state changes, zeroGrad and step are refused with a BusyError; after it they succeed and the gradients are whole", async () => {
  // Wide enough that the backward is still running when the synchronous calls below are made.
  const module = Module.create("mlp", { in_features: 1024, hidden_features: 2048, out_features: 1024 });
  const other = Module.create("mlp", { in_features: 4, hidden_features: 4, out_features: 1 });  // not in the graph
  const optimizer = Optimizer.sgd(module, { lr: 0.05 });
  const input = Tensor.from(Float32Array.from({ length: 2048 * 1024 }, (_, i) => Math.sin(i)), [2048, 1024]);
  const out = (await module.forward([input], { grad: true })) as Tensor;
  const ones = Tensor.from(new Float32Array(2048 * 1024).fill(1), [2048, 1024]);
  const pending = backward(out, ones);
  expect(() => module.setRequiresGrad("fc1", false)).toThrow(/a backward\(\) writing gradients into this module's parameters is still in flight/);
  expect(() => module.train()).toThrow(BusyError);
  expect(() => module.to("float64")).toThrow(BusyError);
  expect(() => optimizer.zeroGrad()).toThrow(/a backward\(\) writing gradients into a module it updates \(mlp\)/);
  await expect(optimizer.step()).rejects.toThrow(BusyError);
  await expect(module.loadStateDict(module.stateDict())).rejects.toThrow(BusyError);
  expect(() => other.train()).not.toThrow();  // only the graph's modules are held
  await pending;
  // Released when the backward finished: every call goes through, on whole gradients.
  const grads = optimizer.gradients();
  expect([...grads.keys()].sort()).toEqual(["0.fc1.bias", "0.fc1.weight", "0.fc2.bias", "0.fc2.weight"]);
  const fc2Bias = grads.get("0.fc2.bias")?.toFloat32Array() ?? new Float32Array();
  expect(fc2Bias.every((g) => g === 2048)).toBe(true);  // d(sum of outputs)/d(bias) = rows
  for (const g of grads.values()) g.dispose();
  await expect(optimizer.step()).resolves.toBeDefined();
  expect(module.setRequiresGrad("fc1", false)).toBeGreaterThan(0);
  module.train(false);
  optimizer.zeroGrad();
  for (const t of [out, ones, input]) t.dispose();
  optimizer.dispose();
  module.dispose();
  other.dispose();
});

test("a backward() that fails releases its module at once", async () => {
  const module = Module.create("mlp", { in_features: 4, hidden_features: 8, out_features: 2 });
  const out = (await module.forward([Tensor.from(new Float32Array(12), [3, 4])], { grad: true })) as Tensor;
  await expect(backward(out, Tensor.from(new Float32Array(4), [2, 2]))).rejects.toThrow(/gradients\[0\] is \[2, 2\] but outputs\[0\] is \[3, 2\]/);
  expect(() => module.train()).not.toThrow();
  out.dispose();
  module.dispose();
});
