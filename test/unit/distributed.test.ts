/**
 * The single-process rules of data-parallel training: how a global batch is
 * shared, the launch variables and their errors, the Trainer's options.
 * (Training across processes: test/e2e/ddp.test.ts, test/faults/ddp-faults.test.ts.)
 */
import { DistributedError, UnsupportedError } from "../../lib/errors";
import { native, type Addon } from "../../lib/native";
import { distributedEnvironment, rankShare } from "../../lib/training/distributed/environment";
import { builtBackends, collectiveBackend, requireBackends } from "../../lib/training/distributed/support";
import { Trainer } from "../../lib/training/trainer";
import { MlpTwoTower, syntheticPairs } from "../helpers/mlp-two-tower";
import { reportSkip } from "../helpers/skip";

test("rankShare splits a batch into contiguous shares that cover it once, sizes differing by at most 1 (8 over 2: 4 + 4; 5 over 2: 2 + 3; 1 over 2: 0 + 1)", () => {
  for (const [length, world] of [[8, 2], [5, 2], [1, 2], [29, 3], [0, 4]] as const) {
    const shares = Array.from({ length: world }, (_, r) => rankShare(length, r, world));
    expect(shares[0]![0]).toBe(0);
    expect(shares[world - 1]![1]).toBe(length);
    for (let r = 1; r < world; r++) expect(shares[r]![0]).toBe(shares[r - 1]![1]);
    const sizes = shares.map(([b, e]) => e - b);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  }
  expect([rankShare(5, 0, 2), rankShare(5, 1, 2)]).toEqual([[0, 2], [2, 5]]);
});

test("distributedEnvironment reads torchrun's variables and names a missing or bad one", () => {
  expect(distributedEnvironment({ RANK: "1", WORLD_SIZE: "2", MASTER_ADDR: "10.0.0.1", MASTER_PORT: "1234", GLOO_SOCKET_IFNAME: "eth0" })).toEqual({ rank: 1, worldSize: 2, localRank: 1, masterAddr: "10.0.0.1", masterPort: 1234, ifname: "eth0" });
  expect(distributedEnvironment({ RANK: "0", WORLD_SIZE: "1" })).toEqual({ rank: 0, worldSize: 1, localRank: 0, masterAddr: "127.0.0.1", masterPort: 29500 });
  expect(() => distributedEnvironment({ RANK: "0" })).toThrow(expect.objectContaining({ name: "DistributedError", message: expect.stringMatching(/WORLD_SIZE is not set; start every process with embeddings-torch launch/) }));
  expect(() => distributedEnvironment({ RANK: "2", WORLD_SIZE: "2" })).toThrow(/RANK \(2\) must be below WORLD_SIZE \(2\)/);
  expect(() => distributedEnvironment({ RANK: "x", WORLD_SIZE: "2" })).toThrow(/RANK must be an integer >= 0 but is "x"/);
  expect(() => distributedEnvironment({ RANK: "0", WORLD_SIZE: "2", MASTER_PORT: "70000" })).toThrow(/MASTER_PORT must be a port number/);
});

test("Trainer checks strategy and distributed options", () => {
  expect(() => new Trainer({ strategy: "fsdp" as "ddp" })).toThrow(new RangeError('Trainer: strategy must be "single" or "ddp" but received string "fsdp"'));
  expect(() => new Trainer({ strategy: "ddp", distributed: { timeoutMs: 0 } })).toThrow(/distributed.timeoutMs must be an integer >= 1/);
  expect(() => new Trainer({ strategy: "ddp", distributed: { gatherAcrossRanks: "yes" as unknown as boolean } })).toThrow(new TypeError('Trainer: distributed.gatherAcrossRanks must be a boolean but received string "yes"'));
});

test('fit with strategy "ddp" outside a launched process rejects with DistributedError naming the missing variable', async () => {
  const saved = { RANK: process.env.RANK, WORLD_SIZE: process.env.WORLD_SIZE };
  delete process.env.RANK;
  delete process.env.WORLD_SIZE;
  using model = new MlpTwoTower();
  try {
    await expect(new Trainer({ strategy: "ddp", progress: false }).fit(model, { train: syntheticPairs(4) })).rejects.toThrow(DistributedError);
    await expect(new Trainer({ strategy: "ddp", progress: false }).fit(model, { train: syntheticPairs(4) })).rejects.toThrow(/WORLD_SIZE is not set/);
  } finally {
    Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
  }
});

test("the backend follows the device (NCCL on CUDA, Gloo on the CPU) and a build without it is an UnsupportedError naming device, backend and fix", () => {
  const addon = (c10dBackends: string | undefined) => ({ c10dBackends }) as unknown as Addon;
  expect([collectiveBackend("cpu"), collectiveBackend("cuda"), collectiveBackend("cuda:1")]).toEqual(["gloo", "nccl", "nccl"]);
  expect([builtBackends(addon("gloo,nccl")), builtBackends(addon("gloo")), builtBackends(addon("")), builtBackends(addon(undefined))]).toEqual([["gloo", "nccl"], ["gloo"], [], []]);
  expect(() => requireBackends(["cpu", "cuda:0"], addon("gloo,nccl"))).not.toThrow();
  expect(() => requireBackends(["cpu"], addon("gloo"))).not.toThrow();
  expect(() => requireBackends(["cpu", "cuda:1"], addon("gloo"))).toThrow(UnsupportedError);
  expect(() => requireBackends(["cpu", "cuda:1"], addon("gloo"))).toThrow(/model on "cuda:1": .* built without c10d's NCCL \(c10dBackends "gloo"\): build the addon against a CUDA libtorch 2.x built with NCCL/);
  expect(() => requireBackends(["cuda", "cpu"], addon("nccl"))).toThrow(/model on "cpu": .* built without c10d's Gloo \(c10dBackends "nccl"; pip wheels of libtorch ship no gloo\/ headers\): install libgloo-dev/);
});

// A CUDA build may have NCCL; a CPU build cannot (the probes need libtorch_cuda exporting ProcessGroupNCCL).
const cpuBuild = !native().runtimeInfo().cudaBuilt;
if (!cpuBuild) reportSkip("skipped the CPU-build c10dBackends test: this addon is a CUDA build");
(cpuBuild ? test : test.skip)("an addon built against a CPU libtorch has no nccl in c10dBackends", () => {
  expect(typeof native().c10dBackends).toBe("string");
  expect((native().c10dBackends as string).split(",")).not.toContain("nccl");
});
