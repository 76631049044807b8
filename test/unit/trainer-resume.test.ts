import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { readCheckpoint } from "../../lib/training/checkpoint";
import { MlpTwoTower, weights } from "../helpers/mlp-two-tower";
import { CrashingTwoTower, runScenario } from "../helpers/resume-scenario";

const ROOT = path.resolve(__dirname, "..", "..");
let reference: { losses: number[]; lrs: number[]; query: Record<string, number[]>; items: Record<string, number[]> };
const dirs: string[] = [];
const tempDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "et-resume-"));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  using model = new MlpTwoTower();
  const result = await runScenario(tempDir(), model);
  expect(result.globalStep).toBe(8);
  reference = { losses: result.steps.map((s) => s.loss), lrs: result.steps.map((s) => s.lr), query: weights(model.query), items: weights(model.items) };
});

afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("Trainer resume", () => {
  test("after a crash at step 5, resuming from the step-4 checkpoint reproduces the uninterrupted loss curve (1e-6) and final weights", async () => {
    const dir = tempDir();
    using crashing = new CrashingTwoTower(8);  // 2 micro-batches a step: the 9th call is step 5's first
    await expect(runScenario(dir, crashing)).rejects.toThrow(/simulated crash at training call 9/);
    expect((await readCheckpoint(`${dir}/checkpoints`)).state.globalStep).toBe(4);
    using resumed = new MlpTwoTower({ seed: 77 });  // other initial weights: everything comes from the checkpoint
    const result = await runScenario(dir, resumed, true);
    expect(result.steps.map((s) => s.step)).toEqual([5, 6, 7, 8]);
    result.steps.forEach((s, i) => expect(Math.abs(s.loss - reference.losses[4 + i]!)).toBeLessThan(1e-6));
    expect(result.steps.map((s) => s.lr)).toEqual(reference.lrs.slice(4));
    expect(weights(resumed.query)).toEqual(reference.query);
    expect(weights(resumed.items)).toEqual(reference.items);
    const logged = fs.readFileSync(`${dir}/logs/metrics.jsonl`, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; loss?: number });
    expect(logged.filter((r) => r.loss !== undefined).map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("a process killed while writing the step-4 checkpoint leaves step 2 loadable, and resuming from it finishes the curve", async () => {
    const dir = tempDir();
    const child = spawnSync(process.execPath, ["-r", path.join(ROOT, "test/helpers/register-ts.js"), path.join(ROOT, "test/helpers/train-and-die.ts"), dir, "4"], { cwd: ROOT, encoding: "utf8" });
    expect(child.stderr).toBe("");
    expect(child.signal).toBe("SIGKILL");
    const entries = fs.readdirSync(`${dir}/checkpoints`);
    const partial = entries.find((e) => e.startsWith(".tmp-step-00000004-"));
    expect(partial).toBeDefined();  // it died mid-write: query.safetensors there, trainer.json not
    expect(fs.readdirSync(`${dir}/checkpoints/${partial!}`)).toEqual(["query.safetensors"]);
    const found = await readCheckpoint(`${dir}/checkpoints`);
    expect(found.state.globalStep).toBe(2);
    using resumed = new MlpTwoTower({ seed: 5 });
    const result = await runScenario(dir, resumed, true);
    expect(result.steps.map((s) => s.step)).toEqual([3, 4, 5, 6, 7, 8]);
    result.steps.forEach((s, i) => expect(Math.abs(s.loss - reference.losses[2 + i]!)).toBeLessThan(1e-6));
    expect(weights(resumed.query)).toEqual(reference.query);
    expect(fs.readdirSync(`${dir}/checkpoints`).sort()).toEqual(["latest.json", "step-00000006", "step-00000008"]);
  });

  test("a new run into a checkpoint folder that holds another run's checkpoints is a CheckpointError before any step, naming the folder, its latest checkpoint and resumeFrom; the old checkpoints stay", async () => {
    const dir = tempDir();
    using first = new MlpTwoTower();
    await runScenario(dir, first);
    const before = fs.readdirSync(`${dir}/checkpoints`).sort();
    using second = new MlpTwoTower({ seed: 9 });
    const untouched = weights(second.query);
    await expect(runScenario(dir, second)).rejects.toThrow(
      expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/checkpoints already holds another run's checkpoints \(latest: step-00000008\); continue that run with fit\(\.\.\., \{ resumeFrom: /) }),
    );
    expect(weights(second.query)).toEqual(untouched);
    expect(fs.readdirSync(`${dir}/checkpoints`).sort()).toEqual(before);
  });

  test("resuming with another batch size is a CheckpointError that names both settings", async () => {
    const dir = tempDir();
    using model = new MlpTwoTower();
    await runScenario(dir, model);
    const { Trainer } = await import("../../lib/training/trainer");
    const { scenarioOptions, TRAIN, VALIDATION } = await import("../helpers/resume-scenario");
    await expect(new Trainer({ ...scenarioOptions(dir), batchSize: 8 }).fit(model, { train: TRAIN, validation: VALIDATION }, { resumeFrom: `${dir}/checkpoints` })).rejects.toThrow(
      expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/"batchSize":4.*this run has \{"batchSize":8/) }),
    );
  });
});
