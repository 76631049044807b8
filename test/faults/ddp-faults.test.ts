/**
 * Faults of data-parallel training (2 processes on 127.0.0.1, Gloo): a peer
 * that never comes, and a peer SIGKILLed mid-epoch. The survivors must fail
 * with DistributedError naming the missing rank (no hang), the checkpoints
 * must stay complete, and the run must resume from them to the weights of an
 * uninterrupted run. Behaviour is asserted, never speed.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { readCheckpoint } from "../../lib/training/checkpoint";
import { ddpAvailable, maxParameterDiff, runRanks, runWorker } from "../helpers/ddp";
import type { WorkerSpec } from "../helpers/ddp-worker";

const available = ddpAvailable("ddp-faults.test.ts");
const maybe = available ? test : test.skip;
jest.setTimeout(600_000);  // generous: 2-5 processes on a shared 2-core machine; behaviour is asserted, not time

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-ddp-faults-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = (name: string): WorkerSpec => ({ strategy: "ddp", dtype: "float32", batchSize: 4, trainSize: 29, timeoutMs: 3000, out: path.join(dir, `${name}.json`) });

maybe("rank 0 alone: the rendezvous fails after the timeout naming rank 1 and the timeout", async () => {
  const [rank0] = await runRanks(2, () => base("alone0"), [0]);
  expect(rank0!.code).toBe(1);
  expect(rank0!.stderr).toMatch(/FAILED DistributedError ERR_DISTRIBUTED: data-parallel rendezvous failed on rank 0 of 2: rank 1 of 2 did not join the rendezvous at 127\.0\.0\.1:\d+ within 3000 ms/);
});

maybe("rank 1 without rank 0: the rendezvous fails after the timeout naming rank 0's store", async () => {
  const [rank1] = await runRanks(2, () => base("alone1"), [1]);
  expect(rank1!.code).toBe(1);
  expect(rank1!.stderr).toMatch(/FAILED DistributedError ERR_DISTRIBUTED: data-parallel rendezvous failed on rank 1 of 2: rank 1 could not reach rank 0's rendezvous store at 127\.0\.0\.1:\d+ within 3000 ms/);
});

maybe("kill -9 of rank 1 in step 3: rank 0 exits non-zero naming rank 1, its checkpoint of step 2 is complete, and 2 new ranks resume to the uninterrupted run's weights", async () => {
  const checkpointDir = path.join(dir, "checkpoints");
  const spec = (name: string, extra: Partial<WorkerSpec> = {}): WorkerSpec => ({ ...base(name), timeoutMs: 20_000, checkpointDir, ...extra });
  const [survivor, killed] = await runRanks(2, (rank) => spec(`killed-run-${rank}`, { killRank: 1, killAtCall: 3 }));
  expect(killed!.signal).toBe("SIGKILL");
  expect(survivor!.code).toBe(1);
  expect(survivor!.stderr).toMatch(/FAILED DistributedError ERR_DISTRIBUTED: data-parallel \S+ .*failed on rank 0 of 2: rank 1 stopped answering/);
  const latest = await readCheckpoint(checkpointDir);
  expect(latest.state.globalStep).toBe(2);

  const [resumed, reference] = await Promise.all([
    runRanks(2, (rank) => spec(`resumed-${rank}`, { resume: true })),
    runWorker({ strategy: "single", dtype: "float32", batchSize: 8, trainSize: 29, out: path.join(dir, "reference.json") }),
  ]);
  for (const r of [...resumed, reference]) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(resumed[0]!.output!.globalStep).toBe(4);
  expect(maxParameterDiff(resumed[0]!.output!.parameters, reference.output!.parameters)).toBeLessThan(1e-6);
});

maybe("kill -9 of rank 0 (the store's host) in step 2: rank 1 exits non-zero naming rank 0", async () => {
  const [killed, survivor] = await runRanks(2, (rank) => ({ ...base(`killed0-${rank}`), timeoutMs: 20_000, killRank: 0, killAtCall: 2 }));
  expect(killed!.signal).toBe("SIGKILL");
  expect(survivor!.code).toBe(1);
  expect(survivor!.stderr).toMatch(/FAILED DistributedError ERR_DISTRIBUTED: data-parallel \S+ .*failed on rank 1 of 2: rank 0 stopped answering/);
});
