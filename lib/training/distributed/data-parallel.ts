/**
 * What the Trainer does differently with more than one process, behind one
 * interface so fit has one path: which share of each global micro-batch this
 * rank trains on and with what weight, the loss and gradient sums, the
 * validation sums, and who writes files. One process is the same interface
 * with a world of 1 (nothing to sum, every share is the whole batch).
 */
import type { Module } from "../../module";
import { cat } from "../../ops";
import { Tensor } from "../../tensor";
import { rankShare } from "./environment";
import { defaultProcessGroup, type DistributedOptions, type ProcessGroup } from "./process-group";
import { requireBackends } from "./support";

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

  /**
   * Rank 0's parameters and buffers everywhere (at the start of fit, after any resume). The first
   * collective of every fit: it first checks that the addon has each module's backend (Gloo for CPU
   * modules, NCCL for CUDA modules). @throws UnsupportedError naming the device and the missing backend.
   */
  async broadcast(modules: readonly Module[]): Promise<void> {
    if (!this.#group) return;
    requireBackends(modules.map((m) => m.device));
    await this.#group.broadcastModules(modules);
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

  /**
   * Every rank's [n_r, dim] rows, in rank order ([Σ n_r, dim]); this rank's rows are `rows`
   * itself (their graph kept), the others' are constants. Every rank calling it with its share
   * and computing the loss of the whole, the sum over the ranks of the gradients that reach
   * their own rows is the whole batch's gradient. The others' rows are made on `rows`' device;
   * values travel through the CPU as float64 (exact for float32).
   */
  async gatherRows(rows: Tensor): Promise<Tensor> {
    if (!this.#group) return cat([rows]);
    const [n, dim] = rows.shape as [number, number];
    const counts = new Array<number>(this.worldSize).fill(0);
    counts[this.rank] = n;
    const sizes = await this.#group.allreduce(counts, "sum");
    let offset = 0;
    for (let r = 0; r < this.rank; r++) offset += sizes[r] as number;
    const total = sizes.reduce((a, b) => a + b, 0);
    const local = rows.dtype === "float64" ? (rows.data() as Float64Array) : Float64Array.from(rows.toFloat32Array());
    const values = new Float64Array(total * dim);
    values.set(local, offset * dim);
    const all = await this.#group.allreduce(values, "sum");  // other ranks' rows land in their places
    const part = (from: number, to: number) => {
      const slice = all.subarray(from * dim, to * dim);
      return Tensor.from(rows.dtype === "float64" ? Float64Array.from(slice) : Float32Array.from(slice), [to - from, dim], { device: rows.device });
    };
    const before = offset > 0 ? [part(0, offset)] : [];
    const after = offset + n < total ? [part(offset + n, total)] : [];
    try {
      return await cat([...before, rows, ...after], 0);
    } finally {
      for (const t of [...before, ...after]) t.dispose();
    }
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
