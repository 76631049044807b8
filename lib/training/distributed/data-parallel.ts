/**
 * What the Trainer does differently with more than one process, behind one
 * interface so fit has one path: which share of each global micro-batch this
 * rank trains on and with what weight, the loss and gradient sums, the
 * validation sums, and who writes files. One process is the same interface
 * with a world of 1 (nothing to sum, every share is the whole batch).
 */
import type { Module } from "../../module";
import { rankShare } from "./environment";
import { defaultProcessGroup, type DistributedOptions, type ProcessGroup } from "./process-group";

export interface BatchShare<T> {
  /** This rank's items of the global micro-batch (possibly none in a short last batch). */
  readonly items: readonly T[];
  /**
   * This rank's part of the global batch (items / global size): its mean loss is scaled by
   * it, so the sum over the ranks of the scaled gradients is the gradient of the global mean.
   */
  readonly weight: number;
}

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  readonly #group: ProcessGroup | null;
  readonly #bucketBytes: number | undefined;

  private constructor(group: ProcessGroup | null, bucketBytes?: number) {
    this.#group = group;
    this.rank = group?.rank ?? 0;
    this.worldSize = group?.worldSize ?? 1;
    this.#bucketBytes = bucketBytes;
  }

  static readonly single = new DataParallel(null);

  /** Joins (or reuses) this process's group from the launch variables. */
  static async join(options: DistributedOptions = {}): Promise<DataParallel> {
    return new DataParallel(await defaultProcessGroup(options), options.bucketBytes);
  }

  get isDistributed(): boolean {
    return this.#group !== null;
  }

  /** Rank 0 writes checkpoints, logs, plots and progress; the others only train. */
  get isRankZero(): boolean {
    return this.rank === 0;
  }

  /** This rank's contiguous share of a global micro-batch. */
  share<T>(global: readonly T[]): BatchShare<T> {
    const [begin, end] = rankShare(global.length, this.rank, this.worldSize);
    return { items: global.slice(begin, end), weight: global.length === 0 ? 0 : (end - begin) / global.length };
  }

  /** Rank 0's parameters and buffers everywhere (at the start of fit, after any resume). */
  async broadcast(modules: readonly Module[]): Promise<void> {
    await this.#group?.broadcastModules(modules);
  }

  /** The sum of each rank's weighted loss: the global batch's mean loss (NaN anywhere makes it NaN everywhere). */
  async sumLoss(loss: number): Promise<number> {
    if (!this.#group) return loss;
    return (await this.#group.allreduce([loss], "sum"))[0] as number;
  }

  /** Sums the weighted gradients over the ranks: every rank then holds the global batch's gradient. */
  async syncGradients(modules: readonly Module[]): Promise<void> {
    await this.#group?.allreduceGradients(modules, this.#bucketBytes);
  }

  /** Sums per-key values (validation sums and counts) over the ranks; keys must be the same on every rank. */
  async sumRecord(record: Readonly<Record<string, number>>): Promise<Record<string, number>> {
    if (!this.#group) return { ...record };
    const keys = Object.keys(record).sort();
    const [most, minusLeast] = await this.#group.allreduce([keys.length, -keys.length], "max");
    if (most !== keys.length || -(minusLeast as number) !== keys.length)
      throw new RangeError(`data-parallel validation: rank ${this.rank} has ${keys.length} metrics (${keys.join(", ")}) but another rank has ${most === keys.length ? -(minusLeast as number) : most}; validationStep must return the same metrics on every rank`);
    const sums = await this.#group.allreduce(keys.map((k) => record[k] as number), "sum");
    return Object.fromEntries(keys.map((k, i) => [k, sums[i] as number]));
  }
}
