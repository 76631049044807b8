/**
 * The optimizers and gradients against PyTorch itself: the same MLP weights,
 * inputs and loss run through torch.optim in /usr/bin/python3 (Debian's
 * PyTorch 1.13) and through the addon; gradients, gradient norms, losses and
 * updated parameters agree within 1e-6.
 */
import { Module, Tensor } from "../../lib";
import { backward } from "../../lib/training/autograd";
import { rankingLoss, type RankingLoss } from "../../lib/training/losses";
import { Optimizer } from "../../lib/training/optimizer";
import { maxAbsDiff } from "../helpers/fixtures";
import { rows, runTorchReference, seededValues, torchReferenceUnavailable } from "../helpers/torch-reference";
import { reportSkip } from "../helpers/skip";

const SHAPES: Record<string, [number, number] | [number]> = { "fc1.weight": [16, 8], "fc1.bias": [16], "fc2.weight": [4, 16], "fc2.bias": [4] };
const NAMES = Object.keys(SHAPES);
const unavailable = torchReferenceUnavailable();
const maybe = unavailable ? describe.skip : describe;
if (unavailable) reportSkip(`skipped: PyTorch reference unavailable (${unavailable})`);

interface StepSpec {
  query: number[][];
  positive: number[][];
  negative: number[][];
  lr?: number;
  maxGradNorm?: number;
  frozen?: string[];
}
interface RefStep {
  loss: number;
  gradNorm: number | null;
  grads: Record<string, number[]>;
  params: Record<string, number[]>;
}

function initialParams(seed: number): Record<string, Float32Array> {
  return Object.fromEntries(NAMES.map((name, i) => [name, seededValues(seed + i, SHAPES[name]!.reduce((a, b) => a * b, 1), 0.5)]));
}

function makeSteps(count: number, seed: number): StepSpec[] {
  return Array.from({ length: count }, (_, s) => ({
    query: rows(seededValues(seed + 10 * s, 5 * 8), 8),
    positive: rows(seededValues(seed + 10 * s + 1, 5 * 8), 8),
    negative: rows(seededValues(seed + 10 * s + 2, 5 * 8), 8),
  }));
}

/** Runs the steps through the addon: per step the loss, grad norm, grads and parameters after. */
async function runOurs(params: Record<string, Float32Array>, optimizer: (m: Module) => Optimizer, loss: RankingLoss, steps: StepSpec[]) {
  using mlp = Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
  await mlp.loadStateDict(new Map(NAMES.map((n) => [n, Tensor.from(params[n]!, SHAPES[n]!)])));
  using opt = optimizer(mlp);
  const out: RefStep[] = [];
  for (const step of steps) {
    mlp.setRequiresGrad(NAMES, true);
    if (step.frozen) mlp.setRequiresGrad(step.frozen, false);
    if (step.lr !== undefined) opt.setLearningRate(step.lr);
    opt.zeroGrad();
    const embed = async (r: number[][]) => {
      using x = Tensor.from(new Float32Array(r.flat()), [r.length, 8]);
      return mlp.forwardTensor([x], { grad: true });
    };
    using q = await embed(step.query);
    using p = await embed(step.positive);
    using n = await embed(step.negative);
    using value = await rankingLoss(loss, { query: q, positive: p, negative: n });
    await backward(value);
    const grads = opt.gradients();
    const gradValues = Object.fromEntries([...grads].map(([k, t]) => [k.replace(/^0\./, ""), Array.from(t.toFloat32Array())]));
    for (const t of grads.values()) t.dispose();
    const result = await opt.step(step.maxGradNorm === undefined ? {} : { maxGradNorm: step.maxGradNorm });
    const state = mlp.stateDict();
    out.push({
      loss: value.toFloat32Array()[0]!,
      gradNorm: result.gradNorm,
      grads: gradValues,
      params: Object.fromEntries([...state].map(([k, t]) => [k, Array.from(t.toFloat32Array())])),
    });
    for (const t of state.values()) t.dispose();
  }
  return out;
}

function expectClose(ours: RefStep[], ref: RefStep[], clipped: boolean) {
  expect(ours).toHaveLength(ref.length);
  ours.forEach((step, i) => {
    const r = ref[i]!;
    expect(Math.abs(step.loss - r.loss)).toBeLessThan(1e-6);
    if (clipped) expect(Math.abs(step.gradNorm! - r.gradNorm!)).toBeLessThan(1e-6);
    // grads are read before clipping here, and in the reference after it: compare only unclipped steps
    if (!clipped) {
      expect(Object.keys(step.grads).sort()).toEqual(Object.keys(r.grads).sort());
      for (const k of Object.keys(r.grads)) expect(maxAbsDiff(step.grads[k]!, r.grads[k]!)).toBeLessThan(1e-6);
    }
    for (const k of NAMES) expect(maxAbsDiff(step.params[k]!, r.params[k]!)).toBeLessThan(1e-6);
  });
}

maybe("optimizers against PyTorch (MLP, /usr/bin/python3 torch.optim)", () => {
  const model = (params: Record<string, Float32Array>) => ({ in: 8, hidden: 16, out: 4, params: Object.fromEntries(NAMES.map((n) => [n, Array.from(params[n]!)])) });

  test("one AdamW step: loss, every gradient and every updated parameter match PyTorch within 1e-6", async () => {
    const params = initialParams(1);
    const loss: RankingLoss = { kind: "cosine_margin", margin: 0.5 };
    const steps = makeSteps(1, 100);
    const adamw = { kind: "adamw", lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 };
    const ref = runTorchReference<{ steps: RefStep[] }>({ mode: "train", model: model(params), optimizer: adamw, loss, steps });
    const ours = await runOurs(params, (m) => Optimizer.adamw(m, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 }), loss, steps);
    expect(ref.steps[0]!.loss).toBeGreaterThan(0);  // the margin is active: gradients are not all zero
    expectClose(ours, ref.steps, false);
  });

  test("five AdamW steps with a changing learning rate and fc1 frozen at steps 3-4 match PyTorch; fc1 stays bit-identical while frozen", async () => {
    const params = initialParams(7);
    const loss: RankingLoss = { kind: "prob_margin_ranking", margin: 1 };
    const steps = makeSteps(5, 200).map((s, i) => ({ ...s, lr: [1e-2, 5e-3, 2e-3, 1e-3, 3e-3][i]!, ...(i === 2 || i === 3 ? { frozen: ["fc1.weight", "fc1.bias"] } : {}) }));
    const ref = runTorchReference<{ steps: RefStep[] }>({ mode: "train", model: model(params), optimizer: { kind: "adamw", lr: 1e-2, weightDecay: 0.1, amsgrad: true }, loss, steps });
    const ours = await runOurs(params, (m) => Optimizer.adamw(m, { lr: 1e-2, weightDecay: 0.1, amsgrad: true }), loss, steps);
    expectClose(ours, ref.steps, false);
    expect(ours[3]!.params["fc1.weight"]).toEqual(ours[1]!.params["fc1.weight"]);
    expect(ours[3]!.params["fc1.bias"]).toEqual(ours[1]!.params["fc1.bias"]);
    expect(ours[3]!.params["fc2.weight"]).not.toEqual(ours[1]!.params["fc2.weight"]);
    expect(ours[4]!.params["fc1.weight"]).not.toEqual(ours[3]!.params["fc1.weight"]);
  });

  test("SGD with momentum, weight decay and Nesterov over four steps with gradient clipping matches PyTorch", async () => {
    const params = initialParams(21);
    const loss: RankingLoss = { kind: "info_nce", temperature: 0.1 };
    const steps = makeSteps(4, 300).map((s) => ({ ...s, maxGradNorm: 0.05 }));
    const ref = runTorchReference<{ steps: RefStep[] }>({ mode: "train", model: model(params), optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true }, loss, steps });
    const ours = await runOurs(params, (m) => Optimizer.sgd(m, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true }), loss, steps);
    expect(ref.steps[0]!.gradNorm).toBeGreaterThan(0.05);  // clipping really happens
    expectClose(ours, ref.steps, true);
  });
});
