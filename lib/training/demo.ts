/**
 * The demo: fine-tune the shipped default model (models/default) on the
 * sample clickstream (data/, made by scripts/make-clickstream.js), print
 * held-out retrieval metrics before and after, save a Hugging Face folder and
 * hand the model to a Triton export hook.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { exportToTriton } from "../inference/triton/export";
import { PACKAGE_ROOT } from "../native";
import { EmbeddingsModelInterface } from "../interface";
import { TextToTextBertModel } from "../models/bert";
import { readCatalogue, readClickstream } from "./clickstream/format";
import { makePairs } from "./clickstream/pairs";
import { splitSessions } from "./clickstream/split";
import { evaluateRetrieval } from "./evaluate";
import type { RankingLoss } from "./losses";
import { formatMetricTable } from "./report";
import { Trainer, type FitResult } from "./trainer";
import type { TrainerOptions } from "./trainer-options";
import type { EncodingModel } from "./training-module";

/** What the demo needs of a model: a two-tower encoder it can free and, ideally, save. */
export interface DemoModel extends EncodingModel {
  dispose(): void;
  /** Writes a Hugging Face folder (config.json, model.safetensors, tokenizer files). */
  savePretrained?(dir: string): Promise<void>;
}

export interface DemoOptions {
  /** Default: the package's models/default (a tiny BERT with its tokenizer), wherever the package is installed. */
  readonly modelDir?: string;
  /** Holds catalogue.jsonl and clickstream.jsonl. Default: the package's data/. */
  readonly dataDir?: string;
  /** Default "demo-output": model/, triton/, checkpoints/, logs/. */
  readonly outDir?: string;
  readonly maxLength?: number;
  readonly epochs?: number;
  /** Stops training after this many optimizer steps (a quick run; default: all of `epochs`). */
  readonly maxSteps?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly seed?: number;
  /** Default in-batch InfoNCE (temperature 0.05) with the clicked/unclicked pairs' negatives. */
  readonly loss?: RankingLoss;
  readonly maxNegativesPerClick?: number;
  readonly preventItemLeakage?: boolean;
  /** Held-out metrics every this many steps as well as at each epoch's end (the plot's curves). Default 60. */
  readonly validateEveryNSteps?: number;
  readonly progress?: TrainerOptions["progress"];
  /** Loads the model; default TextToTextBertModel.fromPretrained(dir, {maxLength}). */
  readonly loadModel?: (dir: string, options: { maxLength: number }) => Promise<DemoModel>;
  /**
   * The Triton export: called with the fine-tuned model and `<outDir>/triton`.
   * Default: exportToTriton (the query/items managers of the model) as model
   * "default", replacing an earlier demo run's version. null skips the export.
   */
  readonly exportToTriton?: ((model: DemoModel, repositoryDir: string) => Promise<void>) | null;
  readonly log?: (line: string) => void;
}

export interface DemoResult {
  readonly before: Record<string, number>;
  readonly after: Record<string, number>;
  readonly table: string;
  readonly fit: FitResult;
  /** The saved Hugging Face folder. */
  readonly modelDir: string;
  readonly tritonDir: string | null;
}

async function loadDefaultModel(dir: string, options: { maxLength: number }): Promise<DemoModel> {
  return TextToTextBertModel.fromPretrained(dir, options);
}

async function exportDefault(model: DemoModel, repository: string): Promise<void> {
  if (!(model instanceof EmbeddingsModelInterface)) throw new TypeError("demo: the default Triton export needs an EmbeddingsModelInterface; pass options.exportToTriton");
  await exportToTriton(model, { repository, name: "default", overwrite: true });
}

/** Without savePretrained: the module weights as model.safetensors beside the source folder's other files. */
async function saveFolder(model: DemoModel, sourceDir: string, dir: string): Promise<void> {
  if (model.savePretrained) return model.savePretrained(dir);
  await fs.promises.mkdir(dir, { recursive: true });
  for (const file of fs.existsSync(sourceDir) ? await fs.promises.readdir(sourceDir) : []) {
    if (/\.(json|txt|model)$/.test(file)) await fs.promises.copyFile(path.join(sourceDir, file), path.join(dir, file));
  }
  await model.getQueryModel().saveStateDict(path.join(dir, "model.safetensors"), { format: "pt" });
  if (!model.sameQueryAndItems) await model.getItemsModel().saveStateDict(path.join(dir, "items.safetensors"), { format: "pt" });
}

export async function demo(options: DemoOptions = {}): Promise<DemoResult> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const modelDir = options.modelDir ?? path.join(PACKAGE_ROOT, "models", "default");
  const dataDir = options.dataDir ?? path.join(PACKAGE_ROOT, "data");
  const outDir = options.outDir ?? "demo-output";
  const maxLength = options.maxLength ?? 32;
  const seed = options.seed ?? 0;
  for (const file of ["catalogue.jsonl", "clickstream.jsonl"])
    if (!fs.existsSync(path.join(dataDir, file))) throw new CheckpointError(`demo: ${path.join(dataDir, file)} is missing; run node scripts/make-clickstream.js --out ${dataDir}`);
  const catalogue = await readCatalogue(path.join(dataDir, "catalogue.jsonl"));
  const sessions = await readClickstream(path.join(dataDir, "clickstream.jsonl"));
  const split = splitSessions(sessions, { validationFraction: 0.2, seed, preventItemLeakage: options.preventItemLeakage ?? false });
  const { pairs, skipped } = makePairs(split.train, catalogue, { maxNegativesPerClick: options.maxNegativesPerClick ?? 2, seed });
  const validationPairs = makePairs(split.validation, catalogue, { maxNegativesPerClick: 1, seed }).pairs;
  log(`data: ${catalogue.size} items; ${split.train.length} training sessions -> ${pairs.length} pairs (${skipped.irrelevant} without clicks, ${skipped.noNegatives} without negatives); ${split.validation.length} held-out sessions`);

  // outDir holds the demo's own products; a second `npm run demo` replaces the first run's.
  const previous = ["checkpoints", "logs", "model", "triton"].filter((d) => fs.existsSync(path.join(outDir, d)));
  if (previous.length > 0) {
    log(`replacing the previous demo run in ${outDir} (${previous.join(", ")})`);
    for (const d of previous) await fs.promises.rm(path.join(outDir, d), { recursive: true, force: true });
  }

  const model = await (options.loadModel ?? loadDefaultModel)(modelDir, { maxLength });
  try {
    const before = await evaluateRetrieval(model, split.validation, catalogue);
    const trainer = new Trainer({
      seed,
      maxEpochs: options.epochs ?? 1,
      ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}),
      batchSize: options.batchSize ?? 32,
      loss: options.loss ?? { kind: "info_nce", temperature: 0.05 },
      // The default model starts from random weights: 1e-3 moves it in one epoch (5e-5 suits pretrained checkpoints).
      optimizer: { kind: "adamw", lr: options.lr ?? 1e-3, weightDecay: 0.01 },
      schedule: { kind: "linear", warmupSteps: 10 },
      gradientClipVal: 1,
      evaluation: { sessions: split.validation, catalogue },
      validateEveryNSteps: options.validateEveryNSteps ?? 60,
      checkpoint: { dir: path.join(outDir, "checkpoints"), keepLast: 1 },
      logDir: path.join(outDir, "logs"),
      ...(options.progress !== undefined ? { progress: options.progress } : {}),
    });
    const fit = await trainer.fit(model, { train: pairs, validation: validationPairs });
    const after = await evaluateRetrieval(model, split.validation, catalogue);
    const shown = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== "sessions"));
    const table = formatMetricTable(shown(before), shown(after));
    log(`held-out retrieval over the whole catalogue (${after.sessions} sessions):\n${table}`);
    const savedDir = path.join(outDir, "model");
    await saveFolder(model, modelDir, savedDir);
    log(`saved the fine-tuned model to ${savedDir}; metrics in ${path.join(outDir, "logs")} (metrics.csv, metrics.svg, metrics.png)`);
    let tritonDir: string | null = null;
    const exporter = options.exportToTriton === undefined ? exportDefault : options.exportToTriton;
    if (exporter) {
      tritonDir = path.join(outDir, "triton");
      await exporter(model, tritonDir);
      log(`exported to the Triton repository ${tritonDir}`);
    }
    return { before, after, table, fit, modelDir: savedDir, tritonDir };
  } finally {
    model.dispose();
  }
}
