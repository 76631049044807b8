/**
 * `embeddings-torch evaluate`: retrieval metrics of a model on a clickstream
 * (each session's query against the whole catalogue: recall@k, MRR, nDCG@10),
 * printed as a table.
 */
import { parseArgs } from "node:util";

import { checkDevice } from "../device";
import { evaluateRetrieval } from "../training/evaluate";
import { isEncodingModel } from "../training/training-module";
import { readCommandData } from "./data";
import type { CommandIO } from "./io";
import { loadCommandModel, MODEL_FLAGS } from "./load-model";
import { integer, requireFlags, UsageError } from "./usage";

export const EVALUATE_USAGE = `usage: embeddings-torch evaluate --model <folder|hub id> --data <clickstream.jsonl> [--catalogue <catalogue.jsonl>]
         [--kind <kind>] [--revision <rev>] [--batch-size N] [--max-length N] [--device cpu|cuda|cuda:N]

Embeds the catalogue (--catalogue: {"item_id", "text"} per line; default: the
texts the sessions' results carry) and every session's query, ranks the whole
catalogue for each query and prints recall@k, MRR and nDCG@10 over the
sessions with clicks. The clickstream format is lib/training/clickstream/format.ts's.`;

/** A metric table with one value column. */
export function formatMetrics(metrics: Readonly<Record<string, number>>): string {
  const rows = Object.entries(metrics).map(([name, value]) => [name, Number.isInteger(value) ? String(value) : value.toFixed(4)]);
  const width = Math.max(6, ...rows.map(([name]) => (name ?? "").length));
  return [["metric", "value"], ...rows].map(([name, value]) => `${(name ?? "").padEnd(width)}  ${(value ?? "").padStart(8)}`).join("\n");
}

export async function evaluateCommand(args: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...MODEL_FLAGS,
      data: { type: "string" },
      catalogue: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(EVALUATE_USAGE);
    return 0;
  }
  requireFlags(values, ["model", "data"]);
  const batchSize = integer(values["batch-size"], "--batch-size", 1) ?? 64;
  const maxLength = integer(values["max-length"], "--max-length", 2);
  const device = values.device === undefined ? "cpu" : checkDevice(values.device, "--device");
  const { sessions, catalogue } = await readCommandData(values.data as string, values.catalogue);
  const { model, kind } = await loadCommandModel(values.model as string, { kind: values.kind, revision: values.revision, maxLength, device });
  try {
    if (!isEncodingModel(model)) throw new UsageError(`--kind ${kind}: this model cannot embed lists of queries and items`);
    const metrics = await evaluateRetrieval(model, sessions, catalogue, { batchSize });
    io.stdout(`${kind} model ${values.model as string}: ${catalogue.size} items, ${sessions.length} sessions`);
    io.stdout(formatMetrics(metrics));
    return 0;
  } finally {
    model.dispose();
  }
}
