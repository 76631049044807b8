/** Early stopping on a validation metric (Lightning's EarlyStopping callback). */

export interface EarlyStoppingOptions {
  /** A metric the validation logs: "val_loss", or e.g. "val_item_disjoint_recall@10" from RankingTask's evaluation. */
  readonly monitor: string;
  /** "min" (default) when lower is better. */
  readonly mode?: "min" | "max";
  /** Validations without improvement before stopping. Default 3. */
  readonly patience?: number;
  /** An improvement must exceed this. Default 0. */
  readonly minDelta?: number;
}

export class EarlyStopping {
  readonly monitor: string;
  readonly #mode: "min" | "max";
  readonly #patience: number;
  readonly #minDelta: number;
  best: number | null;
  badValidations: number;

  constructor(options: EarlyStoppingOptions, state: { best: number | null; badValidations: number } | null = null) {
    if (typeof options.monitor !== "string" || options.monitor === "") throw new TypeError(`earlyStopping.monitor: expected a metric name but received ${String(options.monitor)}`);
    if (options.mode !== undefined && options.mode !== "min" && options.mode !== "max") throw new RangeError(`earlyStopping.mode: expected "min" or "max" but received ${String(options.mode)}`);
    const patience = options.patience ?? 3;
    if (!Number.isSafeInteger(patience) || patience < 1) throw new RangeError(`earlyStopping.patience: expected an integer >= 1 but received ${patience}`);
    const minDelta = options.minDelta ?? 0;
    if (!(minDelta >= 0)) throw new RangeError(`earlyStopping.minDelta: expected a number >= 0 but received ${minDelta}`);
    this.monitor = options.monitor;
    this.#mode = options.mode ?? "min";
    this.#patience = patience;
    this.#minDelta = minDelta;
    this.best = state?.best ?? null;
    this.badValidations = state?.badValidations ?? 0;
  }

  /**
   * Takes one validation's metrics. @returns true when training should stop.
   * @throws RangeError when the monitored metric was not logged.
   */
  update(metrics: Readonly<Record<string, number>>): boolean {
    const value = metrics[this.monitor];
    if (value === undefined)
      throw new RangeError(`earlyStopping.monitor: "${this.monitor}" is not among the validation metrics (${Object.keys(metrics).join(", ") || "none"})`);
    const improved = this.best === null || (this.#mode === "min" ? value < this.best - this.#minDelta : value > this.best + this.#minDelta);
    if (improved) {
      this.best = value;
      this.badValidations = 0;
    } else {
      this.badValidations++;
    }
    return this.badValidations >= this.#patience;
  }
}
