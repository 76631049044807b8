/**
 * The metrics of a run, as `metrics.jsonl` (one record per line, appended as
 * they come), `metrics.csv`, `metrics.svg` and `metrics.png` (rewritten
 * atomically by `flush()`; a PNG that cannot be rendered is a warning, not a
 * lost run). A resumed run keeps the records up to its checkpoint's step and
 * drops the rest, so the files read as one uninterrupted run.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { writeFileAtomic } from "../hub/atomic";
import { renderMetricsSvg, renderSvgToPng, type SeriesPoint } from "./plot";

/** One logged record: the optimizer step it belongs to, and numbers. */
export interface MetricRecord {
  readonly step: number;
  readonly epoch: number;
  readonly [metric: string]: number;
}

function csvCell(value: number | undefined): string {
  return value === undefined ? "" : String(value);
}

/** A JSONL line; a last line cut short by a kill is dropped (null), any other bad line throws. */
function parseRecord(line: string, last: boolean, file: string): MetricRecord | null {
  try {
    return JSON.parse(line) as MetricRecord;
  } catch (error) {
    if (last) return null;
    throw new CheckpointError(`${file}: a line is not JSON (${error instanceof Error ? error.message : String(error)}): ${line.slice(0, 80)}`);
  }
}

export class MetricsLog {
  readonly #dir: string;
  readonly #records: MetricRecord[];

  private constructor(dir: string, records: MetricRecord[]) {
    this.#dir = dir;
    this.#records = records;
  }

  /**
   * Opens the log in `dir`. Without `resumeAtStep` any earlier log there is
   * replaced; with it, records of steps after it are dropped.
   */
  static async open(dir: string, options: { resumeAtStep?: number } = {}): Promise<MetricsLog> {
    await fs.promises.mkdir(dir, { recursive: true });
    const jsonl = path.join(dir, "metrics.jsonl");
    let records: MetricRecord[] = [];
    if (options.resumeAtStep !== undefined && fs.existsSync(jsonl)) {
      const lines = (await fs.promises.readFile(jsonl, "utf8")).split("\n").filter((l) => l.trim() !== "");
      records = lines.map((l, i) => parseRecord(l, i === lines.length - 1, jsonl)).filter((r): r is MetricRecord => r !== null);
      records = records.filter((r) => r.step <= (options.resumeAtStep ?? 0));
    }
    await writeFileAtomic(jsonl, records.map((r) => `${JSON.stringify(r)}\n`).join(""));
    return new MetricsLog(dir, records);
  }

  get records(): readonly MetricRecord[] {
    return this.#records;
  }

  async append(record: MetricRecord): Promise<void> {
    this.#records.push(record);
    await fs.promises.appendFile(path.join(this.#dir, "metrics.jsonl"), `${JSON.stringify(record)}\n`);
  }

  /** Rewrites metrics.csv (columns: step, epoch, then every metric seen), metrics.svg and metrics.png. */
  async flush(title = "training"): Promise<void> {
    const columns = ["step", "epoch", ...new Set(this.#records.flatMap((r) => Object.keys(r).filter((k) => k !== "step" && k !== "epoch")))];
    const csv = [columns.join(","), ...this.#records.map((r) => columns.map((c) => csvCell(r[c])).join(","))].join("\n");
    await writeFileAtomic(path.join(this.#dir, "metrics.csv"), `${csv}\n`);
    const series = new Map<string, SeriesPoint[]>();
    for (const c of columns.slice(2)) {
      if (c === "gradNorm") continue;
      series.set(c, this.#records.filter((r) => r[c] !== undefined).map((r) => ({ step: r.step, value: r[c] as number })));
    }
    const svg = renderMetricsSvg(series, title);
    await writeFileAtomic(path.join(this.#dir, "metrics.svg"), svg);
    let png: Buffer;
    try {
      png = await renderSvgToPng(svg);
    } catch (error) {
      process.emitWarning(`metrics.png not written (metrics.svg was): ${error instanceof Error ? error.message : String(error)}`, { code: "EMBEDDINGS_TORCH_PLOT" });
      return;
    }
    await writeFileAtomic(path.join(this.#dir, "metrics.png"), [png]);
  }
}
