/**
 * Data-parallel training (Trainer strategy "ddp", c10d Gloo) against one
 * process: 2 processes on 127.0.0.1 with batchSize B each must end an epoch on
 * the weights one process reaches with batchSize 2B (same seed, per-pair loss,
 * no dropout), the short last batch included (29 pairs: 3 global batches of 8
 * and one of 5, shared 2 + 3). Tolerances: 1e-6 in float32 (summation order
 * differs), 1e-12 in float64.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { parseLaunchArgs, runLaunch } from "../../lib/commands/launch";
import { ddpAvailable, freePort, maxParameterDiff, runRanks, runWorker } from "../helpers/ddp";
import type { WorkerSpec } from "../helpers/ddp-worker";

const available = ddpAvailable("ddp.test.ts");
const maybe = available ? test : test.skip;
jest.setTimeout(600_000);  // generous: up to 5 processes on a shared 2-core machine; nothing here asserts time

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-ddp-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TRAIN = 29;

describe.each([
  ["float32", 1e-6],
  ["float64", 1e-12],
] as const)("%s", (dtype, tolerance) => {
  maybe(`an epoch on 2 ranks with batchSize 4 ends on the weights of 1 process with batchSize 8 within ${tolerance}; the ranks agree bit for bit`, async () => {
    const spec = (name: string, batchSize: number, strategy: WorkerSpec["strategy"]): WorkerSpec => ({ strategy, dtype, batchSize, trainSize: TRAIN, out: path.join(dir, `${dtype}-${name}.json`) });
    const [single, half, ranks] = await Promise.all([
      runWorker(spec("single-8", 8, "single")),
      runWorker(spec("single-4", 4, "single")),
      runRanks(2, (rank) => spec(`rank${rank}`, 4, "ddp")),
    ]);
    for (const r of [single, half, ...ranks]) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const [rank0, rank1] = ranks.map((r) => r.output!);
    expect(rank0!.globalStep).toBe(4);
    expect(maxParameterDiff(rank0!.parameters, rank1!.parameters)).toBe(0);
    expect(maxParameterDiff(rank0!.parameters, single.output!.parameters)).toBeLessThan(tolerance);
    // The reported loss of each step is the global batch's mean loss.
    rank0!.losses.forEach((loss, i) => expect(Math.abs(loss - single.output!.losses[i]!)).toBeLessThan(1e-6));  // losses travel as float32
    // Control: the comparison can fail — one process with the per-rank batch (4) lands elsewhere.
    expect(maxParameterDiff(rank0!.parameters, half.output!.parameters)).toBeGreaterThan(1e-3);
  });
});

maybe("embeddings-torch launch --nproc 2 runs a data-parallel fit end to end (its variables, no GLOO_SOCKET_IFNAME: loopback MASTER_ADDR binds Gloo to 127.0.0.1)", async () => {
  const root = path.resolve(__dirname, "../..");
  const spec = { strategy: "ddp", dtype: "float32", batchSize: 4, trainSize: TRAIN, out: path.join(dir, "launched") };
  // A .js entry for launch: registers TypeScript, gives each rank its own output file, runs the worker.
  const entry = path.join(dir, "launched-worker.js");
  fs.writeFileSync(entry, `require(${JSON.stringify(path.join(root, "test/helpers/register-ts.js"))});
process.argv[2] = JSON.stringify({ ...${JSON.stringify(spec)}, out: ${JSON.stringify(spec.out)} + process.env.RANK + ".json" });
require(${JSON.stringify(path.join(root, "test/helpers/ddp-worker.ts"))});`);
  const plan = parseLaunchArgs(["--nproc", "2", "--master-port", String(await freePort()), entry]);
  if (plan === "help") throw new Error("unexpected help");
  const saved = process.env.GLOO_SOCKET_IFNAME;
  delete process.env.GLOO_SOCKET_IFNAME;
  const err: string[] = [];
  try {
    expect(await runLaunch(plan, { stdout: () => {}, stderr: (l) => err.push(l) })).toBe(0);
  } finally {
    if (saved !== undefined) process.env.GLOO_SOCKET_IFNAME = saved;
  }
  expect(err).toEqual([]);
  const [rank0, rank1] = [0, 1].map((r) => JSON.parse(fs.readFileSync(`${spec.out}${r}.json`, "utf8")) as { parameters: Record<string, number[]>; globalStep: number });
  expect(rank0!.globalStep).toBe(4);
  expect(maxParameterDiff(rank0!.parameters, rank1!.parameters)).toBe(0);
});

maybe("validation is shared between the ranks and summed (val_loss equals one process's within 1e-6, on every rank); rank 0 alone writes logDir", async () => {
  const spec = (name: string, batchSize: number, strategy: WorkerSpec["strategy"], logDir: string): WorkerSpec => ({ strategy, dtype: "float32", batchSize, trainSize: TRAIN, validationSize: 9, logDir: path.join(dir, logDir), out: path.join(dir, `validation-${name}.json`) });
  const [single, ranks] = await Promise.all([runWorker(spec("single", 8, "single", "logs-single")), runRanks(2, (rank) => spec(`rank${rank}`, 4, "ddp", `logs-rank${rank}`))]);
  for (const r of [single, ...ranks]) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  const expected = single.output!.validations[0]!.val_loss!;
  for (const r of ranks) expect(Math.abs(r.output!.validations[0]!.val_loss! - expected)).toBeLessThan(1e-6);
  expect(fs.existsSync(path.join(dir, "logs-rank0", "metrics.jsonl"))).toBe(true);
  expect(fs.existsSync(path.join(dir, "logs-rank1"))).toBe(false);
});

maybe("InfoNCE: with distributed.gatherAcrossRanks 2 ranks with batchSize 4 end on the weights of 1 process with batchSize 8 within 1e-6; without it (in-batch negatives per rank) they do not", async () => {
  const spec = (name: string, batchSize: number, strategy: WorkerSpec["strategy"], gather: boolean): WorkerSpec => ({ strategy, dtype: "float32", batchSize, trainSize: TRAIN, infoNce: true, gather, out: path.join(dir, `infonce-${name}.json`) });
  const [single, gathered, perRank] = await Promise.all([
    runWorker(spec("single", 8, "single", false)),
    runRanks(2, (rank) => spec(`gathered-${rank}`, 4, "ddp", true)),
    runRanks(2, (rank) => spec(`per-rank-${rank}`, 4, "ddp", false)),
  ]);
  for (const r of [single, ...gathered, ...perRank]) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(maxParameterDiff(gathered[0]!.output!.parameters, gathered[1]!.output!.parameters)).toBe(0);
  expect(maxParameterDiff(gathered[0]!.output!.parameters, single.output!.parameters)).toBeLessThan(1e-6);
  gathered[0]!.output!.losses.forEach((loss, i) => expect(Math.abs(loss - single.output!.losses[i]!)).toBeLessThan(1e-6));
  expect(maxParameterDiff(perRank[0]!.output!.parameters, single.output!.parameters)).toBeGreaterThan(1e-4);
});
