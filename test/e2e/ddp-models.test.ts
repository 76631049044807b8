/**
 * Data-parallel training (Trainer strategy "ddp", c10d Gloo) of the fixture
 * models against one process, as test/e2e/ddp.test.ts does for the MLP:
 * 2 processes on 127.0.0.1 with batchSize 2 must end an epoch on the weights
 * one process reaches with batchSize 4 (same seed, cosine margin loss: per
 * pair; SGD with momentum on both towers, see test/helpers/ddp-worker.ts),
 * the short last batch included (11 pairs: global batches 4, 4, 3; the 3
 * shared 1 + 2). Models: bert-tiny with towers "separate" (a copy with
 * dropout 0: dropout masks differ between one batch of 4 and two of 2),
 * clip-tiny (text queries, image items; its dropout is 0) and two TorchScript
 * towers (bert-tiny traced in eval mode: no dropout). float64: the towers
 * converted after loading (Module.to casts floating parameters and buffers
 * only, so the TorchScript towers keep their int64 position_ids and
 * token_type_ids). Tolerances: 1e-6 in float32, 1e-12 in float64.
 * Measured here: bert separate 6.0e-8 / 2.2e-16, CLIP 1.2e-7 / 5.6e-17,
 * TorchScript 6.0e-8 / 1.1e-16 (float32 / float64); the controls end 2.8e-3 (bert,
 * TorchScript) and 5.5e-2 (CLIP) away.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { ddpAvailable, maxParameterDiff, runRanks, runWorker } from "../helpers/ddp";
import type { WorkerModel, WorkerSpec } from "../helpers/ddp-worker";
import { FIXTURES } from "../helpers/fixtures";

const available = ddpAvailable("ddp-models.test.ts");
const maybe = available ? test : test.skip;
jest.setTimeout(600_000);  // generous: 4 processes loading transformer fixtures on a shared 2-core machine; nothing here asserts time

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-ddp-models-"));
  // bert-tiny without dropout (its config has 0.1 for hidden states and attention probabilities).
  const bert = path.join(dir, "bert-tiny");
  fs.mkdirSync(bert);
  for (const file of fs.readdirSync(path.join(FIXTURES, "bert-tiny"))) fs.copyFileSync(path.join(FIXTURES, "bert-tiny", file), path.join(bert, file));
  const config = JSON.parse(fs.readFileSync(path.join(bert, "config.json"), "utf8")) as Record<string, unknown>;
  fs.writeFileSync(path.join(bert, "config.json"), JSON.stringify({ ...config, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 }));
  // Two TorchScript towers: one file copied twice is two modules with their own parameters.
  const ts = path.join(dir, "torchscript");
  fs.mkdirSync(ts);
  for (const name of ["query.pt", "items.pt"]) fs.copyFileSync(path.join(FIXTURES, "bert-tiny", "traced_pooler_eager.pt"), path.join(ts, name));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TRAIN = 11;
const modelDir = (model: WorkerModel) => (model === "bert-separate" ? path.join(dir, "bert-tiny") : model === "torchscript" ? path.join(dir, "torchscript") : undefined);

describe.each([
  ["bert-separate", "float32", 1e-6],
  ["bert-separate", "float64", 1e-12],
  ["clip", "float32", 1e-6],
  ["clip", "float64", 1e-12],
  ["torchscript", "float32", 1e-6],
  ["torchscript", "float64", 1e-12],
] as const)("%s %s", (model, dtype, tolerance) => {
  maybe(`an epoch on 2 ranks with batchSize 2 ends on the weights of 1 process with batchSize 4 within ${tolerance}; the ranks agree bit for bit`, async () => {
    const dirOption = modelDir(model);
    const spec = (name: string, batchSize: number, strategy: WorkerSpec["strategy"]): WorkerSpec => ({ model, ...(dirOption ? { modelDir: dirOption } : {}), strategy, dtype, batchSize, trainSize: TRAIN, out: path.join(dir, `${model}-${dtype}-${name}.json`) });
    const control = dtype === "float32";
    const [single, half, ranks] = await Promise.all([
      runWorker(spec("single-4", 4, "single")),
      control ? runWorker(spec("single-2", 2, "single")) : Promise.resolve(null),
      runRanks(2, (rank) => spec(`rank${rank}`, 2, "ddp")),
    ]);
    for (const r of [single, ...(half ? [half] : []), ...ranks]) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const [rank0, rank1] = ranks.map((r) => r.output!);
    expect(rank0!.globalStep).toBe(3);
    expect(maxParameterDiff(rank0!.parameters, rank1!.parameters)).toBe(0);
    const diff = maxParameterDiff(rank0!.parameters, single.output!.parameters);
    process.stdout.write(`ddp-models ${model} ${dtype}: max |ddp - single| = ${diff.toExponential(2)}${half ? `, control (single, batchSize 2) ${maxParameterDiff(rank0!.parameters, half.output!.parameters).toExponential(2)}` : ""}\n`);
    expect(diff).toBeLessThan(tolerance);
    rank0!.losses.forEach((loss, i) => expect(Math.abs(loss - single.output!.losses[i]!)).toBeLessThan(1e-6));  // losses travel as float32
    // Control: the comparison can fail — one process with the per-rank batch (2) lands elsewhere.
    // Both towers train (each is compared, and each moves differently with the other batch size).
    const tower = (p: Record<string, number[]>, side: string) => Object.fromEntries(Object.entries(p).filter(([name]) => name.startsWith(`${side}.`)));
    if (half) for (const side of ["query", "items"]) expect([side, maxParameterDiff(tower(rank0!.parameters, side), tower(half.output!.parameters, side)) > 1e-4]).toEqual([side, true]);
  });
});
