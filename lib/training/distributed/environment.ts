/**
 * The process's place in a data-parallel run, from the variables torchrun and
 * `embeddings-torch launch` set: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
 * MASTER_PORT (and GLOO_SOCKET_IFNAME, which Gloo itself reads in PyTorch).
 */
import { DistributedError } from "../../errors";

export interface DistributedEnvironment {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** The network interface Gloo binds to (GLOO_SOCKET_IFNAME), if given. */
  readonly ifname?: string;
}

function integerVariable(env: NodeJS.ProcessEnv, name: string, min: number, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") {
    if (fallback !== undefined) return fallback;
    throw new DistributedError(`strategy "ddp": the environment variable ${name} is not set; start every process with embeddings-torch launch --nproc N (or torchrun), which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT`, { rank: -1, worldSize: -1 });
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min)
    throw new DistributedError(`strategy "ddp": ${name} must be an integer >= ${min} but is ${JSON.stringify(raw)}`, { rank: -1, worldSize: -1 });
  return value;
}

/** Reads and checks the variables. @throws DistributedError naming the variable. */
export function distributedEnvironment(env: NodeJS.ProcessEnv = process.env): DistributedEnvironment {
  const worldSize = integerVariable(env, "WORLD_SIZE", 1);
  const rank = integerVariable(env, "RANK", 0);
  if (rank >= worldSize) throw new DistributedError(`strategy "ddp": RANK (${rank}) must be below WORLD_SIZE (${worldSize})`, { rank, worldSize });
  const masterPort = integerVariable(env, "MASTER_PORT", 1, 29500);
  if (masterPort > 65535) throw new DistributedError(`strategy "ddp": MASTER_PORT must be a port number (1-65535) but is ${masterPort}`, { rank, worldSize });
  const ifname = env.GLOO_SOCKET_IFNAME;
  return {
    rank,
    worldSize,
    localRank: integerVariable(env, "LOCAL_RANK", 0, rank),
    masterAddr: env.MASTER_ADDR || "127.0.0.1",
    masterPort,
    ...(ifname ? { ifname } : {}),
  };
}

/** The [begin, end) of `length` items that `rank` of `worldSize` takes: contiguous, sizes differing by at most 1. */
export function rankShare(length: number, rank: number, worldSize: number): readonly [number, number] {
  return [Math.floor((rank * length) / worldSize), Math.floor(((rank + 1) * length) / worldSize)];
}
