/**
 * One c10d process group per process (as torch.distributed's default group):
 * created by the first data-parallel fit from the launch variables, reused by
 * later fits. Every collective goes through {@link ProcessGroup.#collective}:
 * a failure names the ranks that stopped answering and breaks the group, so
 * every later call fails at once instead of waiting for the timeout.
 */
import { DistributedError, fromNative } from "../../errors";
import type { Module } from "../../module";
import type { NativeProcessGroup } from "../../native";
import { distributedEnvironment, type DistributedEnvironment } from "./environment";
import { processGroupFactory } from "./support";

export interface DistributedOptions {
  /** How long the rendezvous and every collective wait for the other ranks. Default 300000 (5 minutes). */
  readonly timeoutMs?: number;
  /** Flat gradient buckets of at most this many bytes are allreduced. Default 25 MiB (PyTorch DDP's bucket_cap_mb). */
  readonly bucketBytes?: number;
  /**
   * Two-tower models (RankingTask): each rank's query, positive and negative embeddings are
   * gathered from every rank before the training loss, so InfoNCE's in-batch negatives are the
   * global batch's, as in one process with batchSize × world size. Default false: per rank.
   */
  readonly gatherAcrossRanks?: boolean;
}

export const DEFAULT_TIMEOUT_MS = 300_000;

/** The addon's message without its "NativeProcessGroup.method: " prefix (the DistributedError says what failed). */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^NativeProcessGroup\.\w+: /, "");
}

function loopback(addr: string): boolean {
  return addr === "localhost" || addr.startsWith("127.") || addr === "::1";
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly timeoutMs: number;
  #native: NativeProcessGroup;
  #failure: DistributedError | null = null;

  private constructor(handle: NativeProcessGroup, env: DistributedEnvironment, timeoutMs: number) {
    this.#native = handle;
    this.rank = env.rank;
    this.worldSize = env.worldSize;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Rendezvous of every rank through rank 0's TCPStore, then a Gloo group. Gloo binds to
   * GLOO_SOCKET_IFNAME if set, to 127.0.0.1 when MASTER_ADDR is a loopback address, else to
   * the address the host name resolves to.
   * @throws DistributedError naming the ranks that did not join within timeoutMs.
   */
  static async create(env: DistributedEnvironment, timeoutMs: number): Promise<ProcessGroup> {
    const factory = processGroupFactory();
    const where = { rank: env.rank, worldSize: env.worldSize };
    try {
      const handle = await factory.create({
        masterAddr: env.masterAddr,
        masterPort: env.masterPort,
        rank: env.rank,
        worldSize: env.worldSize,
        timeoutMs,
        ...(env.ifname ? { ifname: env.ifname } : loopback(env.masterAddr) ? { hostname: "127.0.0.1" } : {}),
      });
      return new ProcessGroup(handle, env, timeoutMs);
    } catch (error) {
      const why = reason(fromNative(error));
      const missing = /ranks? ([\d, ]+) of \d+ did not join/.exec(why)?.[1]?.split(",").map(Number) ?? (/could not reach rank 0/.test(why) ? [0] : []);
      throw new DistributedError(`data-parallel rendezvous failed on rank ${env.rank} of ${env.worldSize}: ${why}`, { ...where, missingRanks: missing });
    }
  }

  /** Parameters and buffers of `modules` from rank 0 to every rank. */
  broadcastModules(modules: readonly Module[]): Promise<void> {
    return this.#collective("broadcast of parameters and buffers", async () => void (await this.#native.broadcastModules(modules.map((m) => m.native), 0)));
  }

  /** Sums the trainable parameters' gradients over the ranks (in flat buckets). */
  allreduceGradients(modules: readonly Module[], bucketBytes?: number): Promise<void> {
    return this.#collective("gradient allreduce", async () => void (await this.#native.allreduceGradients(modules.map((m) => m.native), 1, bucketBytes)));
  }

  /** Element-wise sum (or max, min) of `values` over the ranks. */
  allreduce(values: readonly number[] | Float64Array, op: "sum" | "max" | "min" = "sum"): Promise<Float64Array> {
    return this.#collective(`allreduce (${op})`, () => this.#native.allreduce(Float64Array.from(values), op));
  }

  barrier(): Promise<void> {
    return this.#collective("barrier", async () => void (await this.#native.barrier()));
  }

  async #collective<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.#failure) throw this.#failure;
    try {
      return await call();
    } catch (error) {
      const why = reason(fromNative(error));
      // The survivors report themselves through the store; whoever does not within a few seconds is named.
      const missing = await this.#native.missingPeers(Math.min(this.timeoutMs, 3000)).catch(() => [] as number[]);
      const who = missing.length > 0 ? `${missing.length === 1 ? "rank" : "ranks"} ${missing.join(", ")} stopped answering (exited, killed or stuck)` : "no rank could be singled out";
      this.#failure = new DistributedError(
        `data-parallel ${what} failed on rank ${this.rank} of ${this.worldSize}: ${who} (${why}). This group cannot go on: restart every rank (fit(..., { resumeFrom }) continues from the last checkpoint)`,
        { rank: this.rank, worldSize: this.worldSize, missingRanks: missing },
      );
      throw this.#failure;
    }
  }

  dispose(): void {
    this.#native.dispose();
  }
}

let shared: { key: string; group: Promise<ProcessGroup> } | null = null;

/**
 * This process's group, created on first use from the launch variables and kept for later
 * fits (the rendezvous port can serve one group). A failed creation is not kept.
 */
export function defaultProcessGroup(options: DistributedOptions = {}): Promise<ProcessGroup> {
  const env = distributedEnvironment();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const key = JSON.stringify(env);
  if (shared && shared.key !== key)
    return Promise.reject(new DistributedError(`strategy "ddp": this process already joined a group as ${shared.key}; the environment now says ${key}`, { rank: env.rank, worldSize: env.worldSize }));
  if (!shared) {
    const group = ProcessGroup.create(env, timeoutMs);
    shared = { key, group };
    group.catch(() => {
      if (shared?.group === group) shared = null;
    });
  }
  return shared.group;
}

/** Disposes this process's group (tests; a process that ends needs not). */
export async function destroyDefaultProcessGroup(): Promise<void> {
  const current = shared;
  shared = null;
  if (current) (await current.group.catch(() => null))?.dispose();
}
