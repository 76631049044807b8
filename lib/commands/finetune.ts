/**
 * `embeddings-torch finetune`: fine-tunes a model (folder or Hub id) on one's
 * own clickstream: sessions split into training and held-out ones, training
 * pairs (query, clicked, shown-not-clicked), the Trainer with checkpoints and
 * logs, held-out retrieval metrics before and after, the model saved to
 * --out and, with --export-triton, exported to a Triton repository.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";

import { checkDevice } from "../device";
import { exportToTriton } from "../inference/triton/export";
import type { EmbeddingsModelInterface } from "../interface";
import { makePairs } from "../training/clickstream/pairs";
import { splitSessions } from "../training/clickstream/split";
import { evaluateRetrieval } from "../training/evaluate";
import { RANKING_LOSSES, type RankingLoss, type RankingLossKind } from "../training/losses";
import { formatMetricTable } from "../training/report";
import { Trainer } from "../training/trainer";
import { isEncodingModel } from "../training/training-module";
import { readCommandData } from "./data";
import type { CommandIO } from "./io";
import { loadCommandModel, MODEL_FLAGS } from "./load-model";
import { integer, positiveNumber, requireFlags, UsageError } from "./usage";

export const FINETUNE_USAGE = `usage: embeddings-torch finetune --model <folder|hub id> --data <clickstream.jsonl> --out <dir>
         [--catalogue <catalogue.jsonl>] [--kind <kind>] [--revision <rev>] [--towers shared|separate]
         [--epochs N] [--max-steps N] [--batch-size N] [--lr X] [--loss info_nce|cosine_margin|prob_margin_ranking|cosine_prob_margin_ranking]
         [--validation-fraction F] [--seed N] [--max-length N] [--device cpu|cuda|cuda:N]
         [--resume] [--export-triton <repository>] [--name <name>]

Splits the sessions of --data into training and held-out ones (--validation-fraction,
default 0.2), makes (query, clicked, shown-not-clicked) pairs, fine-tunes with
AdamW (--lr, default 5e-5) and the loss (default info_nce), prints held-out
recall@k, MRR and nDCG@10 before and after, and saves the model to <dir>/model
(checkpoints in <dir>/checkpoints, metrics in <dir>/logs; --resume continues
from the latest checkpoint there). --export-triton writes the fine-tuned
towers to that Triton repository as <name> (default "model").
Under embeddings-torch launch it trains data-parallel (--batch-size per process;
info_nce's in-batch negatives are each process's own) and rank 0 alone
evaluates, saves and exports.`;

/** Without savePretrained (CLIP, TorchScript): each tower's weights as safetensors. */
async function saveModel(model: EmbeddingsModelInterface, dir: string): Promise<string> {
  const save = (model as { savePretrained?: (dir: string) => Promise<void> }).savePretrained;
  await fs.promises.mkdir(dir, { recursive: true });
  if (typeof save === "function") {
    await save.call(model, dir);
    return `a Hugging Face folder in ${dir}`;
  }
  await model.getQueryModel().saveStateDict(path.join(dir, "query.safetensors"), { format: "pt" });
  if (!model.sameQueryAndItems) await model.getItemsModel().saveStateDict(path.join(dir, "items.safetensors"), { format: "pt" });
  return `the towers' weights in ${dir} (query.safetensors${model.sameQueryAndItems ? "" : ", items.safetensors"})`;
}

function lossOption(value: string | undefined): RankingLoss {
  const kind = value ?? "info_nce";
  if (!(RANKING_LOSSES as readonly string[]).includes(kind)) throw new UsageError(`--loss must be one of ${RANKING_LOSSES.join(", ")} but received ${JSON.stringify(kind)}`);
  return kind === "info_nce" ? { kind: "info_nce", temperature: 0.05 } : { kind: kind as Exclude<RankingLossKind, "info_nce"> };
}

export async function finetuneCommand(args: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...MODEL_FLAGS,
      towers: { type: "string" },
      data: { type: "string" },
      catalogue: { type: "string" },
      out: { type: "string" },
      epochs: { type: "string" },
      "max-steps": { type: "string" },
      lr: { type: "string" },
      loss: { type: "string" },
      "validation-fraction": { type: "string" },
      seed: { type: "string" },
      resume: { type: "boolean" },
      "export-triton": { type: "string" },
      name: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(FINETUNE_USAGE);
    return 0;
  }
  requireFlags(values, ["model", "data", "out"]);
  const out = values.out as string;
  const epochs = integer(values.epochs, "--epochs", 1) ?? 1;
  const maxSteps = integer(values["max-steps"], "--max-steps", 1);
  const batchSize = integer(values["batch-size"], "--batch-size", 2) ?? 32;
  const lr = positiveNumber(values.lr, "--lr") ?? 5e-5;
  const validationFraction = positiveNumber(values["validation-fraction"], "--validation-fraction", 1) ?? 0.2;
  const seed = integer(values.seed, "--seed", 0) ?? 0;
  const maxLength = integer(values["max-length"], "--max-length", 2);
  const loss = lossOption(values.loss);
  const device = values.device === undefined ? "cpu" : checkDevice(values.device, "--device");
  const towers = values.towers;
  if (towers !== undefined && towers !== "shared" && towers !== "separate") throw new UsageError(`--towers must be shared or separate but received ${JSON.stringify(towers)}`);

  const { sessions, catalogue } = await readCommandData(values.data as string, values.catalogue);
  const split = splitSessions(sessions, { validationFraction, seed });
  const { pairs } = makePairs(split.train, catalogue, { maxNegativesPerClick: 2, seed });
  const validationPairs = makePairs(split.validation, catalogue, { maxNegativesPerClick: 1, seed }).pairs;
  if (pairs.length === 0) throw new UsageError(`${values.data as string}: no training pairs (sessions need clicked and shown-not-clicked results)`);
  io.stdout(`data: ${catalogue.size} items; ${split.train.length} training sessions -> ${pairs.length} pairs; ${split.validation.length} held-out sessions`);

  const { model, kind } = await loadCommandModel(values.model as string, { kind: values.kind, revision: values.revision, maxLength, device, ...(towers === undefined ? {} : { towers }) });
  try {
    if (!isEncodingModel(model)) throw new UsageError(`--kind ${kind}: this model cannot be fine-tuned (it does not embed lists of queries and items)`);
    const evaluation = { sessions: split.validation, catalogue };
    const shown = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== "sessions"));
    const before = await evaluateRetrieval(model, split.validation, catalogue);
    // Under `embeddings-torch launch` (or torchrun): data-parallel, rank 0 alone reports and writes.
    const launched = (process.env.WORLD_SIZE ?? "") !== "";
    const rankZero = !launched || process.env.RANK === "0";
    const trainer = new Trainer({
      ...(launched ? { strategy: "ddp" as const } : {}),
      seed,
      maxEpochs: epochs,
      ...(maxSteps === undefined ? {} : { maxSteps }),
      batchSize,
      loss,
      optimizer: { kind: "adamw", lr, weightDecay: 0.01 },
      schedule: { kind: "linear", warmupSteps: 10 },
      gradientClipVal: 1,
      evaluation,
      checkpoint: { dir: path.join(out, "checkpoints"), keepLast: 1 },
      logDir: path.join(out, "logs"),
    });
    const fit = await trainer.fit(model, { train: pairs, validation: validationPairs }, values.resume ? { resumeFrom: path.join(out, "checkpoints") } : {});
    if (!rankZero) return 0;
    const after = await evaluateRetrieval(model, split.validation, catalogue);
    io.stdout(`trained ${fit.steps.length} steps (global step ${fit.globalStep}); held-out retrieval over the whole catalogue (${after.sessions} sessions):`);
    io.stdout(formatMetricTable(shown(before), shown(after)));
    io.stdout(`saved ${await saveModel(model, path.join(out, "model"))}`);
    const repository = values["export-triton"];
    if (repository !== undefined) {
      const result = await exportToTriton(model, { repository, name: values.name ?? "model" });
      for (const info of result.shared ? [result.query] : [result.query, result.items]) io.stdout(`wrote ${info.versionDir} and ${info.configPath}`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}
