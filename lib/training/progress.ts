/**
 * Training progress: one self-rewriting line (step, loss, lr, ETA) on a TTY,
 * plain lines (about twenty per run) otherwise, or nothing.
 */

export type ProgressMode = "bar" | "lines" | "silent";

export interface ProgressOptions {
  readonly total: number;
  /** Steps already done when this run starts (a resumed run). */
  readonly start?: number;
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Default: "bar" when the stream is a TTY, else "lines". */
  readonly mode?: ProgressMode;
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
}

export interface ProgressUpdate {
  readonly step: number;
  readonly loss: number;
  readonly lr: number;
}

/** 75 -> "1m15s", 3725 -> "1h02m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export class Progress {
  readonly #total: number;
  readonly #start: number;
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly #mode: ProgressMode;
  readonly #now: () => number;
  readonly #began: number;
  readonly #every: number;
  #barShown = false;

  constructor(options: ProgressOptions) {
    this.#total = options.total;
    this.#start = options.start ?? 0;
    this.#stream = options.stream ?? process.stdout;
    this.#mode = options.mode ?? (this.#stream.isTTY ? "bar" : "lines");
    this.#now = options.now ?? Date.now;
    this.#began = this.#now();
    this.#every = Math.max(1, Math.floor(this.#total / 20));
  }

  get mode(): ProgressMode {
    return this.#mode;
  }

  /** The text for one update: "step 12/100 loss 0.4321 lr 2.00e-5 ETA 1m15s". */
  describe(update: ProgressUpdate): string {
    const done = update.step - this.#start;
    const elapsed = (this.#now() - this.#began) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.#total - update.step) : Number.NaN;
    return `step ${update.step}/${this.#total} loss ${update.loss.toFixed(4)} lr ${update.lr.toExponential(2)} ETA ${formatDuration(eta)}`;
  }

  update(update: ProgressUpdate): void {
    if (this.#mode === "silent") return;
    const text = this.describe(update);
    if (this.#mode === "lines") {
      if (update.step % this.#every === 0 || update.step === this.#total) this.#stream.write(`${text}\n`);
      return;
    }
    const width = Math.max(10, Math.min(30, (this.#stream.columns ?? 80) - text.length - 4));
    const filled = Math.round((width * Math.min(update.step, this.#total)) / Math.max(1, this.#total));
    this.#stream.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}`);
    this.#barShown = true;
  }

  /** A message on its own line (validation results), keeping the bar below it. */
  log(message: string): void {
    if (this.#mode === "silent") return;
    if (this.#barShown) this.#stream.write("\r\x1b[2K");
    this.#stream.write(`${message}\n`);
    this.#barShown = false;
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.#mode === "bar" && this.#barShown) this.#stream.write("\n");
    this.#barShown = false;
  }
}
