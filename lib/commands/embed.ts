/**
 * `embeddings-torch embed`: texts (or, for CLIP items, image paths) from a
 * .txt (one per line) or .jsonl file (a string, or an object with "text" and
 * optionally "id" / "item_id" per line) to embeddings in .jsonl
 * ({"id", "embedding"} per line) or .npy (float32 [n, dim]), in batches,
 * with a progress bar on stderr.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";

import { checkDevice } from "../device";
import { writeFileAtomic } from "../hub/atomic";
import type { EmbeddingsModelInterface } from "../interface";
import { formatDuration } from "../training/progress";
import { isEncodingModel } from "../training/training-module";
import { loadCommandModel, MODEL_FLAGS } from "./load-model";
import { writeNpy } from "./npy";
import { integer, requireFlags, UsageError } from "./usage";
import type { CommandIO } from "./io";

export const EMBED_USAGE = `usage: embeddings-torch embed --model <folder|hub id> --input <texts.txt|texts.jsonl> --output <embeddings.jsonl|embeddings.npy>
         [--kind <kind>] [--revision <rev>] [--as items|query] [--batch-size N] [--max-length N] [--device cpu|cuda|cuda:N]

Embeds every line of --input: a .txt file holds one text per line; a .jsonl file
one JSON string, or an object with "text" (and "id" or "item_id"), per line.
--as items (default) embeds them as items (a CLIP model's items are image
paths), --as query as queries (their prefix or tower). Writes .jsonl
({"id", "embedding"} per line; id defaults to the line number, from 0) or .npy
(float32 [n, dim]), atomically. Progress goes to stderr. The kind is read from
the model when not given (modules.json: sentence-transformers; CLIP config:
clip; query.pt/model.pt: torchscript; else e5, mean pooling L2-normalised).`;

export interface InputRecord {
  readonly id: string;
  readonly text: string;
}

/** Reads --input. @throws UsageError naming the file and line of a bad record. */
export function readInputs(file: string): InputRecord[] {
  if (!fs.existsSync(file)) throw new UsageError(`--input ${file} does not exist`);
  const lines = fs.readFileSync(file, "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (file.endsWith(".txt")) return lines.map((text, i) => ({ id: String(i), text: text.replace(/\r$/, "") }));
  if (!file.endsWith(".jsonl")) throw new UsageError(`--input must be a .txt or .jsonl file but received ${file}`);
  return lines.map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`${file}:${i + 1}: not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    if (typeof value === "string") return { id: String(i), text: value };
    const record = (typeof value === "object" && value !== null ? value : {}) as { text?: unknown; id?: unknown; item_id?: unknown };
    if (typeof record.text !== "string") throw new UsageError(`${file}:${i + 1}: expected a string or an object with a string "text" but received ${line.slice(0, 80)}`);
    const id = record.id ?? record.item_id ?? i;
    return { id: String(id), text: record.text };
  });
}

/** Rows done out of total, on a TTY as one rewritten bar, else a line every tenth. */
function progress(io: CommandIO, total: number): (done: number) => void {
  const began = Date.now();
  const tty = process.stderr.isTTY === true;
  let lastTenth = -1;
  return (done) => {
    const elapsed = (Date.now() - began) / 1000;
    const rate = done / Math.max(elapsed, 1e-3);
    const text = `${done}/${total} texts, ${rate.toFixed(0)}/s, ETA ${formatDuration((total - done) / rate)}`;
    if (tty) {
      const filled = Math.round((30 * done) / total);
      process.stderr.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(30 - filled)}] ${text}${done === total ? "\n" : ""}`);
    } else if (Math.floor((10 * done) / total) > lastTenth) {
      lastTenth = Math.floor((10 * done) / total);
      io.stderr(text);
    }
  };
}

/** Embeds `texts` in batches: Float32Array [n, dim] and dim. */
export async function embedAll(model: EmbeddingsModelInterface, texts: readonly string[], as: "items" | "query", batchSize: number, onProgress: (done: number) => void): Promise<{ data: Float32Array; dim: number }> {
  if (!isEncodingModel(model)) throw new UsageError(`--as ${as}: this model cannot embed lists of ${as}`);
  const encode = (texts: readonly string[]) => (as === "query" ? model.encodeQueries(texts, { grad: false }) : model.encodeItems(texts, { grad: false }));
  let data = new Float32Array(0);
  let dim = 0;
  for (let start = 0; start < texts.length; start += batchSize) {
    using batch = await encode(texts.slice(start, start + batchSize));
    const values = batch.toFloat32Array();
    if (start === 0) {
      dim = batch.shape[1] ?? 0;
      data = new Float32Array(texts.length * dim);
    }
    data.set(values, start * dim);
    onProgress(Math.min(start + batchSize, texts.length));
  }
  return { data, dim };
}

export async function embedCommand(args: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...MODEL_FLAGS,
      input: { type: "string" },
      output: { type: "string" },
      as: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(EMBED_USAGE);
    return 0;
  }
  requireFlags(values, ["model", "input", "output"]);
  const output = values.output as string;
  if (!output.endsWith(".jsonl") && !output.endsWith(".npy")) throw new UsageError(`--output must end in .jsonl or .npy but received ${output}`);
  const as = values.as ?? "items";
  if (as !== "items" && as !== "query") throw new UsageError(`--as must be items or query but received ${JSON.stringify(as)}`);
  const batchSize = integer(values["batch-size"], "--batch-size", 1) ?? 32;
  const maxLength = integer(values["max-length"], "--max-length", 2);
  const device = values.device === undefined ? "cpu" : checkDevice(values.device, "--device");
  const records = readInputs(values.input as string);
  if (records.length === 0) throw new UsageError(`--input ${values.input as string} holds no texts`);

  const { model, kind } = await loadCommandModel(values.model as string, { kind: values.kind, revision: values.revision, maxLength, device });
  try {
    const started = Date.now();
    const { data, dim } = await embedAll(model, records.map((r) => r.text), as, batchSize, progress(io, records.length));
    await fs.promises.mkdir(path.dirname(path.resolve(output)), { recursive: true });
    if (output.endsWith(".npy")) await writeNpy(output, data, records.length, dim);
    else {
      const lines = records.map((r, i) => `${JSON.stringify({ id: r.id, embedding: Array.from(data.subarray(i * dim, (i + 1) * dim)) })}\n`);
      await writeFileAtomic(output, lines.join(""));
    }
    const seconds = (Date.now() - started) / 1000;
    io.stdout(`embedded ${records.length} texts as ${as} with ${kind} (dim ${dim}) in ${seconds.toFixed(1)} s (${(records.length / seconds).toFixed(0)}/s) -> ${output}`);
    return 0;
  } finally {
    model.dispose();
  }
}
