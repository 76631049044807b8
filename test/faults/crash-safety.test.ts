/**
 * Crash-safety of the package's file writes, by a kill between every pair of
 * file operations (not at random): a child process runs an export or a
 * checkpoint write with the test-only EMBEDDINGS_TORCH_KILL_AFTER_FS_OPS=N
 * (lib/hub/atomic.ts SIGKILLs the process after its N-th file operation),
 * for N = 1 .. the number of operations an unkilled run makes. The parent
 * then checks the disk: only complete, visible versions, and the next run
 * cleans the leftovers and succeeds.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { readCheckpoint } from "../../lib/training/checkpoint";
import { runCase, type CaseOutcome } from "../helpers/fault-case";

const ATOMIC = JSON.stringify(path.resolve(__dirname, "..", "..", "dist", "hub", "atomic.js"));

/** Child body: a two-layer MLP tower and an AdamW optimizer, the same weights every run. */
const SETUP = `
  const m = et.Module.create("mlp", { in_features: 4, hidden_features: 6, out_features: 3 });
  const opt = et.Optimizer.adamw(m, { lr: 0.1 });
  const state = (step) => ({ version: 1, globalStep: step, epoch: 0, batchInEpoch: step, seed: 0, baseLearningRates: [[0.1]], earlyStopping: null, stopped: false, config: { batchSize: 1, accumulateGradBatches: 1, trainSize: 10 } });
  const ops = () => require(${ATOMIC}).fsOpsDone();`;

const writeCheckpoints = (root: string, steps: readonly number[]) =>
  `${SETUP} for (const s of ${JSON.stringify(steps)}) await et.writeCheckpoint(${JSON.stringify(root)}, { modules: new Map([["query", m]]), optimizers: [opt], state: state(s) }, 2); return ops();`;

const exportVersion = (repository: string, version: number, overwrite = false) =>
  `${SETUP}
  const info = new et.ModelStorageInfo({ repository: ${JSON.stringify(repository)}, modelName: "mlp", version: ${version} });
  const x = et.Tensor.from(new Float32Array(8).fill(0.5), [2, 4]);
  await new et.JitTraceTritonModelStorageManager(info).saveModel(m, { input: x }, false, { overwrite: ${overwrite} });
  return ops();`;

function expectClean(outcome: CaseOutcome): number {
  expect({ status: outcome.status, signal: outcome.signal, error: outcome.error }).toEqual({ status: 0, signal: null, error: undefined });
  return outcome.returned as number;
}

function killedAfter(body: string, n: number): CaseOutcome {
  const outcome = runCase(body, { env: { EMBEDDINGS_TORCH_KILL_AFTER_FS_OPS: String(n) } });
  expect({ n, signal: outcome.signal }).toEqual({ n, signal: "SIGKILL" });
  return outcome;
}

const visible = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((e) => !e.startsWith(".")).sort() : []);
const hidden = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((e) => e.startsWith(".")).sort() : []);

describe("a kill between any two file operations leaves only complete versions, and the next run cleans up", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-crash-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("writeCheckpoint of step 3 over steps 1-2 (keepLast 2, pruning step 1): every step folder is complete, latest.json is 2 or 3", async () => {
    const seed = path.join(dir, "seed");
    expectClean(runCase(writeCheckpoints(seed, [1, 2])));
    const probe = path.join(dir, "probe");
    fs.cpSync(seed, probe, { recursive: true });
    const total = expectClean(runCase(writeCheckpoints(probe, [3])));
    expect(total).toBeGreaterThanOrEqual(8);  // folder, weights, optimizer, trainer.json, rename, latest.json, prune
    for (let n = 1; n <= total; n++) {
      const root = path.join(dir, `kill-${n}`);
      fs.cpSync(seed, root, { recursive: true });
      killedAfter(writeCheckpoints(root, [3]), n);
      const latest = await readCheckpoint(root);
      expect([2, 3]).toContain(latest.state.globalStep);
      for (const step of visible(root).filter((e) => e !== "latest.json")) {
        expect(step).toMatch(/^step-0000000[123]$/);
        await expect(readCheckpoint(path.join(root, step))).resolves.toBeDefined();
      }
      const stepThree = fs.existsSync(path.join(root, "step-00000003"));
      expectClean(runCase(writeCheckpoints(root, [4])));
      expect({ n, hidden: hidden(root), visible: visible(root) }).toEqual({ n, hidden: [], visible: ["latest.json", stepThree ? "step-00000003" : "step-00000002", "step-00000004"] });
      expect((await readCheckpoint(root)).state.globalStep).toBe(4);
    }
  });

  test("a first Triton export: the model folder is absent or holds config.pbtxt and 1/model.pt; re-export then works", () => {
    const total = expectClean(runCase(exportVersion(path.join(dir, "probe"), 1)));
    expect(total).toBeGreaterThanOrEqual(4);  // staging folder, version folder, model.pt, config.pbtxt, rename
    for (let n = 1; n <= total; n++) {
      const repository = path.join(dir, `kill-${n}`);
      killedAfter(exportVersion(repository, 1), n);
      const model = path.join(repository, "mlp");
      const complete = fs.existsSync(model);
      if (complete) {
        expect({ n, model: visible(model) }).toEqual({ n, model: ["1", "config.pbtxt"] });
        expect(visible(path.join(model, "1"))).toEqual(["model.pt"]);
      }
      expect(visible(repository)).toEqual(complete ? ["mlp"] : []);
      const again = runCase(exportVersion(repository, 1));
      if (complete) expect(again.error).toEqual(expect.objectContaining({ name: "DeployedVersionError", code: "ERR_DEPLOYED" }));
      else expectClean(again);
      expectClean(runCase(exportVersion(repository, 2)));  // a later run removes the leftovers
      expect({ n, repository: hidden(repository), model: hidden(model), versions: visible(model) }).toEqual({ n, repository: [], model: [], versions: ["1", "2", "config.pbtxt"] });
    }
  });

  test("a second Triton version: version 1 stays deployed, version 2 is absent or complete", () => {
    const seed = path.join(dir, "seed");
    expectClean(runCase(exportVersion(seed, 1)));
    const probe = path.join(dir, "probe");
    fs.cpSync(seed, probe, { recursive: true });
    const total = expectClean(runCase(exportVersion(probe, 2)));
    expect(total).toBeGreaterThanOrEqual(3);  // temporary version folder, model.pt, rename
    for (let n = 1; n <= total; n++) {
      const repository = path.join(dir, `kill-${n}`);
      fs.cpSync(seed, repository, { recursive: true });
      killedAfter(exportVersion(repository, 2), n);
      const model = path.join(repository, "mlp");
      const versions = visible(model);
      expect([["1", "config.pbtxt"], ["1", "2", "config.pbtxt"]]).toContainEqual(versions);
      for (const v of versions.filter((e) => e !== "config.pbtxt")) expect(visible(path.join(model, v))).toEqual(["model.pt"]);
      expectClean(runCase(exportVersion(repository, 3)));
      expect({ n, hidden: hidden(model) }).toEqual({ n, hidden: [] });
    }
  });

  test("overwriting version 1: it is the old or the new one, complete, or set aside and moved back by the next run", () => {
    const seed = path.join(dir, "seed");
    expectClean(runCase(exportVersion(seed, 1)));
    const probe = path.join(dir, "probe");
    fs.cpSync(seed, probe, { recursive: true });
    const total = expectClean(runCase(exportVersion(probe, 1, true)));
    expect(total).toBeGreaterThanOrEqual(5);  // temporary version, model.pt, config, set aside, rename in, config rename, removal
    for (let n = 1; n <= total; n++) {
      const repository = path.join(dir, `kill-${n}`);
      fs.cpSync(seed, repository, { recursive: true });
      killedAfter(exportVersion(repository, 1, true), n);
      const model = path.join(repository, "mlp");
      expect([["config.pbtxt"], ["1", "config.pbtxt"]]).toContainEqual(visible(model));
      if (visible(model).includes("1")) expect(visible(path.join(model, "1"))).toEqual(["model.pt"]);
      expectClean(runCase(exportVersion(repository, 2)));
      expect({ n, hidden: hidden(model), versions: visible(model), v1: visible(path.join(model, "1")) }).toEqual({ n, hidden: [], versions: ["1", "2", "config.pbtxt"], v1: ["model.pt"] });
    }
  });

  test("a version folder without config.pbtxt (left by the old non-atomic export) is not deployed: re-export replaces it", () => {
    const model = path.join(dir, "legacy", "mlp");
    fs.mkdirSync(path.join(model, "1"), { recursive: true });
    fs.writeFileSync(path.join(model, "1", "model.pt"), "half");
    expectClean(runCase(exportVersion(path.join(dir, "legacy"), 1)));
    expect({ model: visible(model), hidden: hidden(model), repository: hidden(path.join(dir, "legacy")) }).toEqual({ model: ["1", "config.pbtxt"], hidden: [], repository: [] });
    expect(fs.statSync(path.join(model, "1", "model.pt")).size).toBeGreaterThan(100);  // the traced file, not the leftover
  });
});
