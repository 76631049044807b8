import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { checkpointName, readCheckpoint, restoreCheckpoint, writeCheckpoint, type TrainerState } from "../../lib/training/checkpoint";
import { Optimizer } from "../../lib/training/optimizer";
import { MlpTwoTower, weights } from "../helpers/mlp-two-tower";

function state(step: number): TrainerState {
  return { version: 1, globalStep: step, epoch: 0, batchInEpoch: step, seed: 0, baseLearningRates: [[0.1]], earlyStopping: null, stopped: false, config: { batchSize: 1, accumulateGradBatches: 1, trainSize: 10 } };
}

describe("checkpoints", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-ckpt-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("latest.json points at the newest step folder, older ones beyond keepLast are removed, and weights restore", async () => {
    using model = new MlpTwoTower({ shared: true });
    using opt = Optimizer.adamw(model.query, { lr: 0.1 });
    const modules = new Map([["query", model.query]]);
    for (const step of [1, 2, 3]) await writeCheckpoint(dir, { modules, optimizers: [opt], state: state(step) }, 2);
    expect(fs.readdirSync(dir).sort()).toEqual(["latest.json", checkpointName(2), checkpointName(3)]);
    const found = await readCheckpoint(dir);
    expect(found.dir).toBe(path.join(dir, "step-00000003"));
    expect(found.state).toEqual(state(3));
    using other = new MlpTwoTower({ shared: true, seed: 9 });
    using otherOpt = Optimizer.adamw(other.query, { lr: 0.5 });
    await restoreCheckpoint(found.dir, new Map([["query", other.query]]), [otherOpt]);
    expect(weights(other.query)).toEqual(weights(model.query));
    expect(otherOpt.learningRates).toEqual([0.1]);
  });

  test("a checkpoint whose file is shorter than trainer.json records is a CheckpointError saying it is incomplete", async () => {
    using model = new MlpTwoTower({ shared: true });
    using opt = Optimizer.sgd(model.query, { lr: 0.1 });
    const written = await writeCheckpoint(dir, { modules: new Map([["query", model.query]]), optimizers: [opt], state: state(1) });
    const file = path.join(written, "query.safetensors");
    fs.truncateSync(file, 100);
    await expect(readCheckpoint(dir)).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/query\.safetensors is 100 bytes, trainer\.json says \d+: the checkpoint is incomplete/) }));
  });

  test("weights corrupted in place (same size) are refused by readCheckpoint with a CheckpointError naming the file and both sha256", async () => {
    using model = new MlpTwoTower({ shared: true });
    const written = await writeCheckpoint(dir, { modules: new Map([["query", model.query]]), optimizers: [], state: state(1) });
    const file = path.join(written, "query.safetensors");
    const bytes = fs.readFileSync(file);
    const expected = createHash("sha256").update(bytes).digest("hex");  // independent of the code under test
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;  // flip the last weight byte
    fs.writeFileSync(file, bytes);
    await expect(readCheckpoint(dir)).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", code: "ERR_CHECKPOINT", message: expect.stringContaining(`${file} has sha256 ${createHash("sha256").update(bytes).digest("hex")}, trainer.json says ${expected}`) }));
  });

  test("a latest.json that is not JSON is a CheckpointError naming the file, not a SyntaxError", async () => {
    fs.writeFileSync(path.join(dir, "latest.json"), "{not json");
    await expect(readCheckpoint(dir)).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/latest\.json is not JSON .*received "\{not json"/) }));
  });

  test("the latest checkpoint is never rewritten in place", async () => {
    using model = new MlpTwoTower({ shared: true });
    const contents = { modules: new Map([["query", model.query]]), optimizers: [], state: state(4) };
    await writeCheckpoint(dir, contents);
    await expect(writeCheckpoint(dir, contents)).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/step-00000004 is the latest checkpoint; it is never rewritten in place/) }));
  });

  test("a folder without a checkpoint is a CheckpointError that says what to pass", async () => {
    await expect(readCheckpoint(dir)).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringMatching(/no readable trainer\.json .*pass a checkpoint root \(with latest\.json\) or a step folder/) }));
  });
});
