/**
 * Micro-batching of concurrent forwardQuery calls: the one rule every model
 * with forwardQuery uses (TextEncoderModel, TextToImageClipModel,
 * TorchScriptEmbeddingsModel each supply a {@link QueryBatchRunner}).
 *
 * A query that finds no forward running is dispatched at once, alone: a lone
 * query waits for nothing (unless `maxWaitMs` asks it to). Queries that
 * arrive while a forward runs queue up, and when it ends they go together as
 * one forward, up to `maxBatch` queries and `maxTokens` tokens (rows × padded
 * length), oldest first. Each query is validated and tokenized on its own
 * before it queues, so a bad input fails its caller alone; a forward that
 * fails rejects every caller in it with that error. Rows of different
 * lengths share a forward only where padding cannot change a result (the
 * runner says so); otherwise a forward takes queries of one length.
 *
 * Ownership (ownership.ts): each caller is a user of the modules from its
 * call until it has its row, so a Trainer.fit that starts meanwhile waits
 * for the queued and running queries, and queries made while a fit runs
 * wait for it before they queue (then go together). The owner's own calls
 * (a validation step) run at once, alone.
 */
import { describe } from "../dtypes";
import { DisposedError, ShapeError } from "../errors";
import type { Module } from "../module";
import { Tensor } from "../tensor";
import { isOwnedByCaller, useModules } from "./ownership";

/** Bounds of one coalesced forward. */
export interface MicroBatchingOptions {
  /** Most queries in one forward; default 32. */
  maxBatch?: number;
  /** Most tokens in one forward, counted as rows × padded length; default 4096 (32 rows of 128). A longer query runs alone. */
  maxTokens?: number;
  /**
   * Milliseconds a query that finds nothing running waits for others before
   * it is dispatched, 0 to 2; default 0 (dispatched at once: a lone query is
   * never slower). Queries arriving while a forward runs never wait longer
   * than that forward.
   */
  maxWaitMs?: number;
}

/** `true` (the defaults), `false` (one forward per call, as without batching) or bounds. */
export type MicroBatching = boolean | MicroBatchingOptions;

/** The settings in force. */
export interface MicroBatchingSettings {
  readonly enabled: boolean;
  readonly maxBatch: number;
  readonly maxTokens: number;
  readonly maxWaitMs: number;
}

/** Counters since the model was loaded: what forwardQuery really ran. */
export interface MicroBatchStats {
  /** Query forwards run (each one native forward). */
  readonly forwards: number;
  /** Queries those forwards embedded. */
  readonly queries: number;
  /** The most queries one forward carried. */
  readonly largestBatch: number;
  /** Queries waiting now. */
  readonly queued: number;
}

export const DEFAULT_MICRO_BATCHING: MicroBatchingSettings = Object.freeze({ enabled: true, maxBatch: 32, maxTokens: 4096, maxWaitMs: 0 });

/**
 * Checks and completes a `microBatching` option.
 * @throws TypeError for a value of the wrong type, RangeError for a bound out of range; both name `where`.
 */
export function resolveMicroBatching(value: unknown, where: string): MicroBatchingSettings {
  if (value === undefined || value === true) return DEFAULT_MICRO_BATCHING;
  if (value === false) return Object.freeze({ ...DEFAULT_MICRO_BATCHING, enabled: false });
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new TypeError(`${where}: microBatching must be a boolean or { maxBatch, maxTokens, maxWaitMs } but received ${describe(value)}`);
  const options = value as Record<string, unknown>;
  for (const key of Object.keys(options))
    if (!["maxBatch", "maxTokens", "maxWaitMs"].includes(key)) throw new TypeError(`${where}: microBatching has no option "${key}" (it takes maxBatch, maxTokens, maxWaitMs)`);
  const integer = (key: "maxBatch" | "maxTokens"): number => {
    const v = options[key] ?? DEFAULT_MICRO_BATCHING[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new RangeError(`${where}: microBatching.${key} must be a positive integer but received ${describe(v)}`);
    return v;
  };
  const maxWaitMs = options["maxWaitMs"] ?? DEFAULT_MICRO_BATCHING.maxWaitMs;
  if (typeof maxWaitMs !== "number" || !(maxWaitMs >= 0 && maxWaitMs <= 2)) throw new RangeError(`${where}: microBatching.maxWaitMs must be a number from 0 to 2 but received ${describe(maxWaitMs)}`);
  return Object.freeze({ enabled: true, maxBatch: integer("maxBatch"), maxTokens: integer("maxTokens"), maxWaitMs });
}

/** What a model supplies: how one query is prepared and how prepared queries are embedded together. */
export interface QueryBatchRunner<P> {
  /** The modules a forward runs (a running fit's ownership is checked on them). */
  readonly modules: readonly Module[];
  /** A query arrived while no forward runs: its forward follows once it is prepared (Module.expectForward). */
  expect?(): void;
  /** Validates and tokenizes one query; what it throws rejects that caller alone. */
  prepare(query: string): Promise<P>;
  /** Padded length of the prepared query in tokens. */
  length(prepared: P): number;
  /**
   * True when padding a row to a longer batch never changes its result
   * (masked attention and pooling, padding after the tokens); otherwise
   * only queries of one length share a forward.
   */
  readonly padInvariant: boolean;
  /** One forward over the prepared queries: [n, dim], row i for prepared[i]. */
  run(prepared: readonly P[]): Promise<Tensor>;
}

interface Waiting<P> {
  readonly prepared: P;
  readonly length: number;
  readonly resolve: (t: Tensor) => void;
  readonly reject: (e: unknown) => void;
}

export class QueryBatcher<P> {
  readonly #runner: QueryBatchRunner<P>;
  readonly #what: string;
  #settings: MicroBatchingSettings;
  #queue: Waiting<P>[] = [];
  #running = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #forwards = 0;
  #queries = 0;
  #largest = 0;

  /** `what` names the model in errors ("TextToTextBertModel(/m/bert)"). */
  constructor(runner: QueryBatchRunner<P>, settings: MicroBatchingSettings, what: string) {
    this.#runner = runner;
    this.#settings = settings;
    this.#what = what;
  }

  get settings(): MicroBatchingSettings {
    return this.#settings;
  }

  /** Takes effect for the next forward; queries already queued still go together. */
  set settings(settings: MicroBatchingSettings) {
    this.#settings = settings;
    this.#pump();
  }

  get stats(): MicroBatchStats {
    return { forwards: this.#forwards, queries: this.#queries, largestBatch: this.#largest, queued: this.#queue.length };
  }

  /** The query's row: [1, dim]. @throws DisposedError once closed; what prepare or the forward throws. */
  async submit(query: string): Promise<Tensor> {
    this.#checkOpen();
    // The caller counts as a user of the modules from now until it has its row: a fit that
    // starts meanwhile waits for it, and a call made while a fit runs waits before it queues.
    return useModules(this.#runner.modules, async () => {
      if (!this.#running) this.#runner.expect?.();  // the forward's thread wakes while the query is tokenized
      const prepared = await this.#runner.prepare(query);
      this.#checkOpen();
      if (!this.#settings.enabled || isOwnedByCaller(this.#runner.modules)) return this.#run([prepared]);
      return new Promise<Tensor>((resolve, reject) => {
        this.#queue.push({ prepared, length: this.#runner.length(prepared), resolve, reject });
        this.#pump();
      });
    });
  }

  /** Rejects every queued query with a DisposedError and refuses new ones; a forward already running completes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const w of this.#queue.splice(0)) w.reject(new DisposedError(`forwardQuery: ${this.#what} was disposed while this query waited for a batch`));
  }

  #checkOpen(): void {
    if (this.#closed) throw new DisposedError(`forwardQuery: ${this.#what} was disposed`);
  }

  /** Starts the next forward when none runs and the queue holds queries that should not wait longer. */
  #pump(): void {
    if (this.#closed || this.#running || this.#queue.length === 0) return;
    const { maxWaitMs, maxBatch } = this.#settings;
    if (maxWaitMs > 0 && this.#queue.length < maxBatch) {
      // The first query of an idle model waits up to maxWaitMs for company; a full batch goes at once.
      this.#timer ??= setTimeout(() => {
        this.#timer = null;
        this.#dispatch();
      }, maxWaitMs);
      return;
    }
    this.#dispatch();
  }

  #dispatch(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#closed || this.#running || this.#queue.length === 0) return;
    const batch = this.#take();
    this.#running = true;
    // No useModules here: each caller in the batch already counts as a user (submit).
    this.#run(batch.map((w) => w.prepared))
      .then(
        (output) => deliver(output, batch, this.#what),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      )
      .finally(() => {
        this.#running = false;
        this.#dispatch();  // what arrived meanwhile goes now: it has waited one forward already
      });
  }

  /** The oldest query and those after it that fit its forward (bounds, and one length unless padding is harmless). */
  #take(): Waiting<P>[] {
    const { maxBatch, maxTokens } = this.#settings;
    const head = this.#queue[0] as Waiting<P>;
    const batch: Waiting<P>[] = [];
    const rest: Waiting<P>[] = [];
    let longest = 0;
    for (const w of this.#queue) {
      const padded = Math.max(longest, w.length);
      const fits = batch.length === 0 || (batch.length < maxBatch && padded * (batch.length + 1) <= maxTokens && (this.#runner.padInvariant || w.length === head.length));
      if (fits) {
        batch.push(w);
        longest = padded;
      } else rest.push(w);
    }
    this.#queue = rest;
    return batch;
  }

  async #run(prepared: readonly P[]): Promise<Tensor> {
    this.#forwards++;
    this.#queries += prepared.length;
    if (prepared.length > this.#largest) this.#largest = prepared.length;
    return this.#runner.run(prepared);
  }
}

/** Gives each caller its row of `output` ([n, dim]); a lone caller gets `output` itself. */
function deliver<P>(output: Tensor, batch: readonly Waiting<P>[], what: string): void {
  if (batch.length === 1) {
    (batch[0] as Waiting<P>).resolve(output);
    return;
  }
  try {
    const shape = output.shape;
    const dim = shape[1] ?? 0;
    if (shape.length !== 2 || shape[0] !== batch.length)
      throw new ShapeError(`forwardQuery: ${what} returned [${shape.join(", ")}] for a batch of ${batch.length} queries; expected [${batch.length}, dim]`);
    const { device, dtype } = output;
    // One host copy of the [n, dim] result (small), then a [1, dim] tensor per caller.
    const values = output.toFloat32Array();
    batch.forEach((w, i) => {
      const row = Tensor.from(values.subarray(i * dim, (i + 1) * dim), [1, dim], { device });
      if (dtype === "float32") w.resolve(row);
      else {
        w.resolve(row.to(dtype));
        row.dispose();
      }
    });
  } catch (error) {
    batch.forEach((w) => w.reject(error));
  } finally {
    output.dispose();
  }
}
