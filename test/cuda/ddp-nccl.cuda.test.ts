/**
 * Data-parallel training of a CUDA model (Trainer strategy "ddp") on c10d's
 * NCCL: one rank, since one GPU cannot hold two NCCL ranks, against one
 * process. The rank's gradients still go through NCCL (flat buckets
 * allreduced, divided, copied back) and its parameters through an NCCL
 * broadcast, so a fault there ends elsewhere than one process. Runs on the GPU
 * machine (scripts/gpu-check.sh); skips, saying why, without CUDA or without
 * NCCL in the addon.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { dataParallelSupport } from "../../lib/training/distributed/support";
import { cudaMissing } from "../helpers/cuda";
import { maxParameterDiff, runRanks, runWorker } from "../helpers/ddp";
import type { WorkerSpec } from "../helpers/ddp-worker";
import { reportSkip } from "../helpers/skip";

const FILE = "test/cuda/ddp-nccl.cuda.test.ts";

function ncclMissing(): string | undefined {
  const support = dataParallelSupport("cuda");
  if (!support.available) reportSkip(`skipped ${FILE}: ${support.reason}`);
  return support.available ? undefined : (support.reason ?? "no NCCL");
}

const describeNccl = (cudaMissing(FILE) ?? ncclMissing()) !== undefined ? describe.skip : describe;
jest.setTimeout(300_000);

describeNccl("data-parallel training on CUDA through NCCL", () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-nccl-"))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("1 NCCL rank with batchSize 8 ends an epoch (29 pairs, 4 steps) on the weights of 1 process with batchSize 8 on cuda within 1e-6 (float32); NCCL made a communicator; batchSize 4 ends elsewhere", async () => {
    const spec = (name: string, batchSize: number, strategy: WorkerSpec["strategy"]): WorkerSpec => ({ strategy, dtype: "float32", device: "cuda", batchSize, trainSize: 29, out: path.join(dir, `${name}.json`) });
    // NCCL_DEBUG=INFO: NCCL itself says it initialized (the Gloo group prints nothing); lo: no network there.
    const [single, half, [rank0]] = await Promise.all([
      runWorker(spec("single-8", 8, "single")),
      runWorker(spec("single-4", 4, "single")),
      runRanks(1, () => spec("rank0", 8, "ddp"), undefined, { NCCL_DEBUG: "INFO", NCCL_SOCKET_IFNAME: "lo" }),
    ]);
    for (const r of [single, half, rank0!]) expect({ code: r.code, failure: r.stderr.split("\n").filter((l) => l.startsWith("FAILED")) }).toEqual({ code: 0, failure: [] });
    expect(rank0!.stderr).toMatch(/NCCL INFO/);
    expect(rank0!.output!.globalStep).toBe(4);
    expect(single.output!.globalStep).toBe(4);
    const diff = maxParameterDiff(rank0!.output!.parameters, single.output!.parameters);
    process.stderr.write(`${FILE}: max |1 NCCL rank - 1 process| = ${diff.toExponential(2)}\n`);
    expect(diff).toBeLessThan(1e-6);
    expect(maxParameterDiff(half.output!.parameters, single.output!.parameters)).toBeGreaterThan(1e-3);  // the comparison can tell runs apart
  });
});
