/**
 * A small pool of worker threads running one kind of task (image pixels,
 * tokenization): min(4, cores − 1) workers, at least 1, started on demand,
 * unref'd while idle so they never keep a process alive. A message is
 * `{ id, ...task }`; a reply `{ id, result }` or `{ id, error }`. A worker
 * that dies rejects its tasks and is replaced by the next task.
 */
import * as os from "node:os";
import { Worker } from "node:worker_threads";

export interface WorkerFailure {
  readonly name: string;
  readonly message: string;
  readonly [detail: string]: unknown;
}

export type WorkerReply<R> = { readonly id: number; readonly result: R } | { readonly id: number; readonly error: WorkerFailure };

interface Slot {
  readonly worker: Worker;
  busy: number;
}

interface Pending<R> {
  readonly slot: Slot;
  resolve(result: R): void;
  reject(error: Error): void;
}

export class WorkerPool<T extends object, R> {
  readonly #size = Math.max(1, Math.min(4, (os.availableParallelism?.() ?? os.cpus().length) - 1));
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending<R>>();
  #nextId = 0;

  /**
   * @param entry the worker's script (a .js file).
   * @param rebuild turns a worker's failure into the error to reject with.
   */
  constructor(
    readonly entry: string,
    readonly rebuild: (failure: WorkerFailure) => Error,
  ) {}

  run(task: T, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    const slot = this.#pick();
    const id = this.#nextId++;
    return new Promise<R>((resolve, reject) => {
      this.#pending.set(id, { slot, resolve, reject });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage({ ...task, id }, transfer);
    });
  }

  /** The least busy worker; a new one while the pool is below its size and all are busy. */
  #pick(): Slot {
    const least = this.#slots.reduce<Slot | null>((best, s) => (best === null || s.busy < best.busy ? s : best), null);
    if (least !== null && (least.busy === 0 || this.#slots.length >= this.#size)) return least;
    const worker = new Worker(this.entry);
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on("message", (reply: WorkerReply<R>) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (--slot.busy === 0) worker.unref();
      if ("error" in reply) pending.reject(this.rebuild(reply.error));
      else pending.resolve(reply.result);
    });
    const fail = (error: Error) => {
      const at = this.#slots.indexOf(slot);
      if (at >= 0) this.#slots.splice(at, 1);
      for (const [id, pending] of this.#pending) {
        if (pending.slot !== slot) continue;
        this.#pending.delete(id);
        pending.reject(error);
      }
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`${this.entry}: the worker exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }
}

/** Posts a worker's reply, moving `buffers` where they can be moved (a buffer a native library allocated may not be: then all is copied). */
export function postReply(port: { postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void }, reply: WorkerReply<unknown>, buffers: readonly ArrayBufferLike[]): void {
  const movable = buffers.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  try {
    port.postMessage(reply, [...new Set(movable)]);
  } catch {
    port.postMessage(reply);
  }
}

/** An error as a worker reports it (name, message and any own string/number fields). */
export function describeFailure(error: unknown): WorkerFailure {
  if (typeof error !== "object" || error === null) return { name: "Error", message: String(error) };
  const e = error as Record<string, unknown>;
  const details = Object.fromEntries(Object.entries(e).filter(([, v]) => typeof v === "string" || typeof v === "number"));
  return { ...details, name: typeof e.name === "string" ? e.name : "Error", message: typeof e.message === "string" ? e.message : String(error) };
}
