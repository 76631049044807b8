import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, Tensor } from "../../lib";
import type { OptimizerConfig } from "../../lib/interface";
import { Trainer } from "../../lib/training/trainer";
import type { TrainingModule } from "../../lib/training/training-module";
import { MlpTwoTower, syntheticPairs, weights } from "../helpers/mlp-two-tower";

const quiet = { progress: false } as const;
const pairs = syntheticPairs(32);

describe("Trainer on a two-tower MLP", () => {
  test("a linear warm-up schedule sets the rates 0, 0.5, 1, 0.75, 0.5, 0.25 of the base, and the rate-0 first step leaves the weights bit-identical", async () => {
    using model = new MlpTwoTower({ shared: true });
    const before = weights(model.query);
    const trainer = new Trainer({ ...quiet, maxSteps: 1, batchSize: 8, optimizer: { kind: "adamw", lr: 0.1, weightDecay: 0.5 }, schedule: { kind: "linear", warmupSteps: 2, totalSteps: 6 } });
    await trainer.fit(model, { train: pairs });
    expect(weights(model.query)).toEqual(before);
    using again = new MlpTwoTower({ shared: true });
    const result = await new Trainer({ ...quiet, maxEpochs: 2, batchSize: 8, optimizer: { kind: "adamw", lr: 0.1 }, schedule: { kind: "linear", warmupSteps: 2 } }).fit(again, { train: pairs.slice(0, 24) });
    // 3 steps an epoch, 2 epochs: total 6 steps (the schedule's default)
    expect(result.steps.map((s) => s.lr / 0.1)).toEqual([0, 0.5, 1, 0.75, 0.5, 0.25].map((f) => expect.closeTo(f, 12)));
  });

  test("a step schedule multiplies the rate by gamma every stepSize steps", async () => {
    using model = new MlpTwoTower();
    const result = await new Trainer({ ...quiet, maxSteps: 5, batchSize: 4, optimizer: { kind: "sgd", lr: 0.8 }, schedule: { kind: "step", stepSize: 2, gamma: 0.5 } }).fit(model, { train: pairs });
    expect(result.steps.map((s) => s.lr)).toEqual([0.8, 0.8, 0.4, 0.4, 0.2]);
  });

  test("two accumulated micro-batches of 4 give the same step as one batch of 8 (within 1e-6)", async () => {
    using a = new MlpTwoTower({ shared: true });
    using b = new MlpTwoTower({ shared: true });
    const common = { ...quiet, maxSteps: 1, optimizer: { kind: "sgd" as const, lr: 0.5 } };
    const ra = await new Trainer({ ...common, batchSize: 8 }).fit(a, { train: pairs.slice(0, 8) });
    const rb = await new Trainer({ ...common, batchSize: 4, accumulateGradBatches: 2 }).fit(b, { train: pairs.slice(0, 8) });
    expect(Math.abs(ra.steps[0]!.loss - rb.steps[0]!.loss)).toBeLessThan(1e-6);
    const wa = weights(a.query);
    const wb = weights(b.query);
    for (const k of Object.keys(wa)) wa[k]!.forEach((v, i) => expect(Math.abs(v - wb[k]![i]!)).toBeLessThan(1e-6));
    expect(wa["fc2.weight"]).not.toEqual(weights(new MlpTwoTower({ shared: true }).query)["fc2.weight"]);
  });

  test("freeze {layers: 0, untilStep: 2}: fc1 of both towers is bit-identical after 2 steps, then moves", async () => {
    using model = new MlpTwoTower();
    const q0 = weights(model.query);
    const i0 = weights(model.items);
    const common = { ...quiet, batchSize: 8, optimizer: { kind: "adamw" as const, lr: 0.05 }, freeze: { layers: 0, untilStep: 2 } };
    await new Trainer({ ...common, maxSteps: 2 }).fit(model, { train: pairs });
    expect(weights(model.query)["fc1.weight"]).toEqual(q0["fc1.weight"]);
    expect(weights(model.items)["fc1.bias"]).toEqual(i0["fc1.bias"]);
    expect(weights(model.query)["fc2.weight"]).not.toEqual(q0["fc2.weight"]);
    using fresh = new MlpTwoTower();
    await new Trainer({ ...common, maxSteps: 4 }).fit(fresh, { train: pairs });
    expect(weights(fresh.query)["fc1.weight"]).not.toEqual(q0["fc1.weight"]);
    expect(fresh.query.namedParameters().every((p) => p.requiresGrad)).toBe(true);
  });

  test("freeze {layers: 0, untilEpoch: 1}: fc1 is bit-identical through the first epoch and trainable again in the second", async () => {
    using model = new MlpTwoTower({ shared: true });
    const q0 = weights(model.query);
    const common = { ...quiet, batchSize: 8, optimizer: { kind: "adamw" as const, lr: 0.05 }, freeze: { layers: 0, untilEpoch: 1 } };
    await new Trainer({ ...common, maxEpochs: 1 }).fit(model, { train: pairs });
    expect(weights(model.query)["fc1.weight"]).toEqual(q0["fc1.weight"]);
    using fresh = new MlpTwoTower({ shared: true });
    await new Trainer({ ...common, maxEpochs: 2 }).fit(fresh, { train: pairs });
    expect(weights(fresh.query)["fc1.weight"]).not.toEqual(q0["fc1.weight"]);
  });

  test("the items model gets its own optimizer: with itemsOptimizer lr 0 it stays bit-identical while the query model moves", async () => {
    using model = new MlpTwoTower();
    const q0 = weights(model.query);
    const i0 = weights(model.items);
    await new Trainer({ ...quiet, maxSteps: 3, batchSize: 8, optimizer: { kind: "adamw", lr: 0.05 }, itemsOptimizer: { kind: "sgd", lr: 0 } }).fit(model, { train: pairs });
    expect(weights(model.items)).toEqual(i0);
    expect(weights(model.query)["fc2.weight"]).not.toEqual(q0["fc2.weight"]);
  });

  test("the same seed gives bit-identical loss curves; another seed shuffles differently", async () => {
    const run = async (seed: number) => {
      using model = new MlpTwoTower();
      return (await new Trainer({ ...quiet, seed, maxEpochs: 2, batchSize: 8, optimizer: { kind: "adamw", lr: 0.05 } }).fit(model, { train: pairs })).steps.map((s) => s.loss);
    };
    const a = await run(3);
    expect(await run(3)).toEqual(a);
    expect(await run(4)).not.toEqual(a);
  });

  test("training loss falls on pairs whose positives share the query's words", async () => {
    using model = new MlpTwoTower();
    const result = await new Trainer({ ...quiet, maxEpochs: 15, batchSize: 8, optimizer: { kind: "adamw", lr: 0.02 } }).fit(model, { train: pairs });
    const mean = (xs: readonly { loss: number }[]) => xs.reduce((a, s) => a + s.loss, 0) / xs.length;
    expect(mean(result.steps.slice(-4))).toBeLessThan(0.5 * mean(result.steps.slice(0, 4)));
  });
});

/** A scripted module: validation metrics come from a list; records train/eval mode per call. */
class Scripted implements TrainingModule<number> {
  readonly modes: string[] = [];
  #validation = 0;
  constructor(readonly inner: MlpTwoTower, readonly script: number[]) {}
  modules(): ReadonlyMap<string, Module> {
    return new Map([["query", this.inner.query]]);
  }
  configureOptimizers(): readonly OptimizerConfig[] {
    return [{ kind: "sgd", lr: 0.01, module: this.inner.query }];
  }
  async trainingStep(batch: readonly number[]): Promise<Tensor> {
    this.modes.push(`train:${this.inner.query.isTraining}`);
    using q = await this.inner.encodeQueries(batch.map((i) => `q ${i}`), { grad: true });
    const { rankingLoss } = await import("../../lib/training/losses");
    return rankingLoss({ kind: "info_nce" }, { query: q, positive: q });
  }
  async validationStep(): Promise<Record<string, number>> {
    this.modes.push(`val:${this.inner.query.isTraining}`);
    return { score: this.script[this.#validation++] ?? 0 };
  }
}

/** Records, per training step, a number drawn from libtorch's generator (a fresh MLP's random init). */
class Draws extends Scripted {
  readonly draws: number[] = [];
  override async trainingStep(batch: readonly number[]): Promise<Tensor> {
    using probe = Module.create("mlp", { in_features: 1, hidden_features: 1, out_features: 1 });
    this.draws.push(weights(probe)["fc1.weight"]![0]!);
    return super.trainingStep(batch);
  }
}

describe("Trainer with a scripted TrainingModule", () => {
  test("libtorch's generator is seeded per step from (seed, step): draws inside step k do not depend on what ran before", async () => {
    using inner = new MlpTwoTower({ shared: true });
    const a = new Draws(inner, []);
    await new Trainer({ ...quiet, seed: 1, maxEpochs: 2, batchSize: 2 }).fit(a, { train: [1, 2, 3, 4] });
    const b = new Draws(inner, []);
    Module.create("mlp", {}).dispose();  // consume random numbers first: must not matter
    await new Trainer({ ...quiet, seed: 1, maxEpochs: 2, batchSize: 2 }).fit(b, { train: [1, 2, 3, 4] });
    expect(b.draws).toEqual(a.draws);
    expect(new Set(a.draws).size).toBe(4);  // a different draw at each step
    const c = new Draws(inner, []);
    await new Trainer({ ...quiet, seed: 2, maxEpochs: 2, batchSize: 2 }).fit(c, { train: [1, 2, 3, 4] });
    expect(c.draws).not.toEqual(a.draws);
  });

  test("early stopping on a logged metric stops after `patience` validations without improvement, and the JSONL log holds the metric", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-trainer-"));
    using inner = new MlpTwoTower({ shared: true });
    const module = new Scripted(inner, [0.5, 0.4, 0.45, 0.41, 0.3, 0.2]);
    const result = await new Trainer({ ...quiet, maxEpochs: 10, batchSize: 4, logDir: dir, earlyStopping: { monitor: "score", mode: "min", patience: 2 } }).fit(module, { train: [1, 2, 3, 4, 5, 6, 7, 8], validation: [0] });
    expect(result.stoppedEarly).toBe(true);
    expect(result.validations.map((v) => v.score)).toEqual([0.5, 0.4, 0.45, 0.41]);
    expect(result.globalStep).toBe(8);  // 4 epochs of 2 steps
    const lines = fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.filter((l) => "score" in l).map((l) => [l.step, l.score])).toEqual([[2, 0.5], [4, 0.4], [6, 0.45], [8, 0.41]]);
    expect(lines.filter((l) => "loss" in l)).toHaveLength(8);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("validateAtStart validates once before the first step, logged as step 0, and early stopping does not count it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-trainer-"));
    using inner = new MlpTwoTower({ shared: true });
    // patience 1 in "min" mode: had the start's 0.1 counted, the 0.5 at step 2 would stop the run
    const module = new Scripted(inner, [0.1, 0.5, 0.4]);
    const result = await new Trainer({ ...quiet, maxEpochs: 2, batchSize: 4, logDir: dir, validateAtStart: true, earlyStopping: { monitor: "score", mode: "min", patience: 1 } }).fit(module, { train: [1, 2, 3, 4, 5, 6, 7, 8], validation: [0] });
    expect(module.modes.slice(0, 2)).toEqual(["val:false", "train:true"]);
    expect(result.validations.map((v) => [v.step, v.score])).toEqual([[0, 0.1], [2, 0.5], [4, 0.4]]);
    expect(result.stoppedEarly).toBe(false);
    const lines = fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines[0]).toEqual({ step: 0, epoch: 0, score: 0.1 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("modules are in train mode for training steps, eval mode for validation, eval after fit", async () => {
    using inner = new MlpTwoTower({ shared: true });
    const module = new Scripted(inner, [1]);
    await new Trainer({ ...quiet, maxEpochs: 1, batchSize: 4 }).fit(module, { train: [1, 2, 3, 4, 5, 6, 7, 8], validation: [0] });
    expect(module.modes).toEqual(["train:true", "train:true", "val:false"]);
    expect(inner.query.isTraining).toBe(false);
  });

  test("early stopping on a metric that is never logged is a RangeError listing the logged ones", async () => {
    using inner = new MlpTwoTower({ shared: true });
    await expect(new Trainer({ ...quiet, batchSize: 4, earlyStopping: { monitor: "val_recall@10" } }).fit(new Scripted(inner, [1]), { train: [1, 2], validation: [0] })).rejects.toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/"val_recall@10" is not among the validation metrics \(score\)/) }),
    );
  });

  test("bad options are RangeErrors naming the option", () => {
    expect(() => new Trainer({ batchSize: 0 })).toThrow(expect.objectContaining({ name: "RangeError", message: "Trainer: batchSize must be an integer >= 1 but received number 0" }));
    expect(() => new Trainer({ schedule: { kind: "cosine" } as never })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/schedule.kind: expected "constant", "step" or "linear" but received string "cosine"/) }));
    expect(() => new Trainer({ gradientClipVal: -1 })).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/gradientClipVal must be a finite number > 0/) }));
  });
});
