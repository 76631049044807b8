/**
 * A running Trainer.fit owns its model: forwardQuery from elsewhere waits
 * for it (never a training-mode, dropout output), a forward already running
 * when fit starts finishes first (no BusyError), and fit leaves its modules
 * in eval mode however it ends: success, early stop, an error, a NaN loss.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, NonFiniteLossError, Tensor, TextToTextBertModel, Trainer, saveTorchScript, type TrainingPair } from "../../lib";
import type { OptimizerConfig } from "../../lib/interface";
import { rankingLoss } from "../../lib/training/losses";
import type { TrainingModule } from "../../lib/training/training-module";
import { FIXTURES, maxAbsDiff, readReferenceJson } from "../helpers/fixtures";
import { FEATURES, MlpTwoTower, features, syntheticPairs } from "../helpers/mlp-two-tower";

const BERT = path.join(FIXTURES, "bert-tiny");
const quiet = { progress: false } as const;

let root: string;
beforeAll(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "trainer-ownership-"))));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function bertPairs(): TrainingPair[] {
  const texts = readReferenceJson("bert-tiny").texts;
  return texts.map((query, i) => ({ sessionId: `s${i}`, query, positiveId: `p${i}`, negativeId: `n${i}`, positive: texts[(i + 1) % texts.length] as string, negative: texts[(i + 2) % texts.length] as string }));
}

describe("a running fit owns its model", () => {
  test("bert-tiny (dropout 0.1): forwardQuery called 8 times during fit waits for it and every result equals a fresh eval-mode load of the weights fit saved (within 1e-6: the waiting calls run micro-batched)", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT);
    const trainer = new Trainer({ ...quiet, seed: 3, maxSteps: 6, maxEpochs: 2, batchSize: 2, optimizer: { kind: "adamw", lr: 1e-2 } });
    let fitDone = false;
    const fit = trainer.fit(model, { train: bertPairs() }).then((r) => ((fitDone = true), r));
    const served: Promise<{ issuedDuringFit: boolean; resolvedAfterFit: boolean; values: Float32Array }>[] = [];
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      const issuedDuringFit = !fitDone;
      served.push(model.forwardQuery("red running shoes").then((t) => ({ issuedDuringFit, resolvedAfterFit: fitDone, values: t.toFloat32Array() })));
    }
    const result = await fit;
    const outputs = await Promise.all(served);
    expect(result.globalStep).toBe(6);
    expect(outputs.filter((o) => o.issuedDuringFit).length).toBeGreaterThan(0);
    expect(outputs.every((o) => o.resolvedAfterFit)).toBe(true);
    expect(model.getQueryModel().isTraining).toBe(false);
    // Independent reference: the trained weights written to disk and loaded by a fresh model (eval mode).
    const saved = path.join(root, "bert-after-fit");
    await model.savePretrained(saved);
    using fresh = await TextToTextBertModel.fromPretrained(saved);
    using reference = await fresh.forwardQuery("red running shoes");
    const expected = reference.toFloat32Array();
    // Batched rows differ from a lone forward by float32 rounding only; dropout (0.1) or weights from before a step would differ by far more.
    for (const o of outputs) expect(maxAbsDiff(o.values, expected)).toBeLessThan(1e-6);
  });

  test("a forward already in flight when fit starts finishes first: fit neither fails with BusyError nor changes what that forward computes", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT);
    using before = await model.forwardQuery("blue jeans");
    const inFlight = model.forwardQuery("blue jeans");
    const fit = new Trainer({ ...quiet, maxSteps: 2, batchSize: 2, optimizer: { kind: "adamw", lr: 1e-2 } }).fit(model, { train: bertPairs() });
    using racing = await inFlight;
    await expect(fit).resolves.toMatchObject({ globalStep: 2 });
    expect(racing.toFloat32Array()).toEqual(before.toFloat32Array());
    expect(model.getQueryModel().isTraining).toBe(false);
  });
});

test("encodeQueries, encodeItems, forwardItems and saveTorchScript called from elsewhere during fit wait for it: eval-mode results equal to the trained weights, an export that PyTorch-free reload reproduces", async () => {
  using model = await TextToTextBertModel.fromPretrained(BERT);
  let fitDone = false;
  const fit = new Trainer({ ...quiet, seed: 5, maxSteps: 4, batchSize: 2, optimizer: { kind: "adamw", lr: 1e-2 } }).fit(model, { train: bertPairs() }).then((r) => ((fitDone = true), r));
  await new Promise((resolve) => setTimeout(resolve, 2));
  expect(fitDone).toBe(false);
  const file = path.join(root, "during-fit.pt");
  const calls = [
    model.encodeQueries(["red running shoes"], { grad: false }).then((t) => ({ after: fitDone, values: t.toFloat32Array() })),
    model.encodeItems(["red running shoes"], { grad: false }).then((t) => ({ after: fitDone, values: t.toFloat32Array() })),
    saveTorchScript(model.getQueryModel(), await model.getQueryModelInputs(), file).then(() => ({ after: fitDone, values: new Float32Array() })),
    model.forwardItems(["red running shoes"]).then((t) => ({ after: fitDone, values: t.toFloat32Array() })),
  ];
  await fit;
  const [queries, items, exported, served] = await Promise.all(calls);
  expect([queries?.after, items?.after, exported?.after, served?.after]).toEqual([true, true, true, true]);
  expect(served?.values).toEqual(items?.values);
  expect(model.getQueryModel().isTraining).toBe(false);
  using reference = await model.forwardQuery("red running shoes");
  expect(queries?.values).toEqual(reference.toFloat32Array());
  expect(items?.values).toEqual(reference.toFloat32Array());  // shared towers
  // The export traced the trained weights in eval mode: the file computes what the model computes.
  using traced = await Module.loadTorchScript(file);
  const inputs = await model.getQueryModelInputs();
  using out = (await traced.forward(inputs)) as Tensor;
  using direct = (await model.getQueryModel().forward(inputs)) as Tensor;
  for (const t of Object.values(inputs)) t.dispose();
  expect(maxAbsDiff(out.toFloat32Array(), direct.toFloat32Array())).toBeLessThan(1e-6);
});

test("a validation step that calls forwardQuery on the model being trained runs at once (the fit's own call does not wait for the fit)", async () => {
  using model = await TextToTextBertModel.fromPretrained(BERT);
  const served: number[] = [];
  const task: TrainingModule<TrainingPair> = {
    modules: () => new Map([["query", model.getQueryModel()]]),
    configureOptimizers: () => [{ kind: "sgd", lr: 0.01, module: model.getQueryModel() }],
    async trainingStep(batch) {
      using q = await model.encodeQueries(batch.map((p) => p.query), { grad: true });
      return rankingLoss({ kind: "info_nce" }, { query: q, positive: q });
    },
    async validationStep() {
      using e = await model.forwardQuery("red running shoes");
      served.push(e.shape[0] as number);
      return { served: 1 };
    },
  };
  const pairs = bertPairs();
  const result = await Promise.race([
    new Trainer({ ...quiet, maxSteps: 2, batchSize: 4, validateEveryNSteps: 1 }).fit(task, { train: pairs, validation: pairs.slice(0, 2) }),
    new Promise((_, reject) => setTimeout(() => reject(new Error("fit deadlocked on its own forwardQuery")), 20_000)),
  ]);
  expect(result).toMatchObject({ globalStep: 2 });
  expect(served).toEqual([1, 1]);
  expect(model.getQueryModel().isTraining).toBe(false);
}, 30_000);

test("serving calls enter no AsyncLocalStorage context, which on Node 20 would turn on promise hooks for the whole host process for good; a fit does (its own calls must not wait for it)", async () => {
  using model = await TextToTextBertModel.fromPretrained(BERT);
  const run = jest.spyOn(AsyncLocalStorage.prototype, "run");
  const enterWith = jest.spyOn(AsyncLocalStorage.prototype, "enterWith");
  try {
    const results = await Promise.all([model.forwardQuery("red running shoes"), model.forwardQuery("blue"), model.forwardItems(["a", "b"]), model.encodeQueries(["c"], { grad: false })]);
    for (const t of results) t.dispose();
    const inputs = await model.getQueryModelInputs();
    await saveTorchScript(model.getQueryModel(), inputs, path.join(root, "no-context.pt"));
    for (const t of Object.values(inputs)) t.dispose();
    expect({ run: run.mock.calls.length, enterWith: enterWith.mock.calls.length }).toEqual({ run: 0, enterWith: 0 });
    await new Trainer({ ...quiet, maxSteps: 1, batchSize: 4 }).fit(model, { train: bertPairs() });
    expect(run.mock.calls.length).toBeGreaterThan(0);
  } finally {
    run.mockRestore();
    enterWith.mockRestore();
  }
});

/** A TrainingModule over an MLP tower whose n-th trainingStep (1-based) fails as told. */
class Faulty implements TrainingModule<number> {
  calls = 0;
  readonly modes: boolean[] = [];
  constructor(
    readonly tower: Module,
    readonly fault: { at: number; kind: "throw" | "nan" | "inf" } | null,
    readonly validationScores: number[] = [],
  ) {}
  modules(): ReadonlyMap<string, Module> {
    return new Map([["query", this.tower]]);
  }
  configureOptimizers(): readonly OptimizerConfig[] {
    return [{ kind: "sgd", lr: 0.05, module: this.tower }];
  }
  async trainingStep(batch: readonly number[]): Promise<Tensor> {
    this.calls++;
    this.modes.push(this.tower.isTraining);
    const x = features(batch.map((i) => `word${i} other${i % 3}`));
    if (this.fault?.at === this.calls) {
      if (this.fault.kind === "throw") throw new Error(`scripted failure at call ${this.calls}`);
      x[0] = this.fault.kind === "nan" ? Number.NaN : Number.POSITIVE_INFINITY;
    }
    using input = Tensor.from(x, [batch.length, FEATURES]);
    using q = await this.tower.forwardTensor([input], { grad: true });
    return rankingLoss({ kind: "info_nce" }, { query: q, positive: q });
  }
  async validationStep(): Promise<Record<string, number>> {
    return { score: this.validationScores.shift() ?? 0 };
  }
}

const numbers = Array.from({ length: 32 }, (_, i) => i);

describe("fit restores eval mode on every exit path", () => {
  test.each([
    ["success", null],
    ["an error thrown by trainingStep at step 3", { at: 3, kind: "throw" as const }],
    ["a NaN loss at step 3", { at: 3, kind: "nan" as const }],
  ])("%s", async (_name, fault) => {
    using inner = new MlpTwoTower({ shared: true });
    const task = new Faulty(inner.query, fault);
    const fit = new Trainer({ ...quiet, maxSteps: 5, batchSize: 4 }).fit(task, { train: numbers });
    if (fault === null) await expect(fit).resolves.toMatchObject({ globalStep: 5 });
    else await expect(fit).rejects.toThrow(fault.kind === "throw" ? /scripted failure at call 3/ : /step 3/);
    expect(task.modes.every((m) => m)).toBe(true);
    expect(inner.query.isTraining).toBe(false);
  });

  test("early stopping", async () => {
    using inner = new MlpTwoTower({ shared: true });
    const task = new Faulty(inner.query, null, [0.5, 0.4, 0.3, 0.2]);
    const result = await new Trainer({ ...quiet, maxSteps: 20, batchSize: 4, validateEveryNSteps: 1, earlyStopping: { monitor: "score", mode: "max", patience: 1 } }).fit(task, { train: numbers, validation: [0, 1] });
    expect(result.stoppedEarly).toBe(true);
    expect(inner.query.isTraining).toBe(false);
  });
});

/** Every float32 value in every safetensors file under `dir`, read with a parser of the format written here (8-byte header length, JSON header, data). */
function everyFloat(dir: string): { files: number; values: number; nonFinite: string[] } {
  const out = { files: 0, values: 0, nonFinite: [] as string[] };
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".safetensors")) continue;
    const file = path.join(entry.parentPath, entry.name);
    const bytes = fs.readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    out.files++;
    for (const [name, t] of Object.entries(header)) {
      if (name === "__metadata__" || t.dtype !== "F32") continue;
      for (let o = t.data_offsets[0]; o < t.data_offsets[1]; o += 4) {
        out.values++;
        if (!Number.isFinite(bytes.readFloatLE(8 + headerLength + o))) out.nonFinite.push(`${file}: ${name}`);
      }
    }
  }
  return out;
}

describe("a NaN/Inf loss stops training before any checkpoint of that step", () => {
  test("a crafted loss: Infinity at step 3 rejects with NonFiniteLossError naming step 3, epoch 0 and the loss; checkpoints hold steps 1 and 2 only, all finite", async () => {
    using inner = new MlpTwoTower({ shared: true });
    const dir = path.join(root, "crafted");
    const error = await new Trainer({ ...quiet, maxSteps: 6, batchSize: 4, checkpoint: { dir, everyNSteps: 1, keepLast: 10 } })
      .fit(new Faulty(inner.query, { at: 3, kind: "inf" }), { train: numbers })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect(error).toMatchObject({ code: "ERR_NON_FINITE", step: 3, epoch: 0 });
    expect(Number.isFinite((error as NonFiniteLossError).loss)).toBe(false);
    expect((error as Error).message).toMatch(/step 3 \(epoch 0\) is (NaN|Infinity)/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("step-")).sort()).toEqual(["step-00000001", "step-00000002"]);
    const scan = everyFloat(dir);
    expect(scan.files).toBeGreaterThan(0);
    expect(scan.nonFinite).toEqual([]);
  });

  test("a diverging run (SGD, lr 1e30, a checkpoint every step) rejects with NonFiniteLossError and leaves no checkpoint holding NaN or Infinity", async () => {
    using model = new MlpTwoTower({ shared: true });
    const dir = path.join(root, "diverging");
    const error = await new Trainer({ ...quiet, maxSteps: 20, batchSize: 8, optimizer: { kind: "sgd", lr: 1e30 }, checkpoint: { dir, everyNSteps: 1, keepLast: 100 } })
      .fit(model, { train: syntheticPairs(32) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    process.stderr.write(`diverging run: ${(error as Error).message}\n`);
    expect(model.query.isTraining).toBe(false);
    const scan = fs.existsSync(dir) ? everyFloat(dir) : { files: 0, values: 0, nonFinite: [] };
    expect(scan.nonFinite).toEqual([]);
  });

  test('onNonFinite: "skip-step" drops the NaN step (listed in skippedSteps, not in steps) and goes on; an unknown policy is a RangeError', async () => {
    using inner = new MlpTwoTower({ shared: true });
    const result = await new Trainer({ ...quiet, maxSteps: 4, batchSize: 4, onNonFinite: "skip-step" }).fit(new Faulty(inner.query, { at: 2, kind: "nan" }), { train: numbers });
    expect(result.skippedSteps).toEqual([2]);
    expect(result.steps.map((s) => s.step)).toEqual([1, 3, 4]);
    expect(result.steps.every((s) => Number.isFinite(s.loss))).toBe(true);
    expect(() => new Trainer({ onNonFinite: "ignore" as never })).toThrow(/onNonFinite must be "stop" or "skip-step" but received/);
  });
});
