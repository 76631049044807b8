/**
 * The demo: fine-tune the shipped default model (models/default) on the
 * sample clickstream (data/, made by scripts/make-clickstream.js), print
 * held-out retrieval metrics before and after, save a Hugging Face folder and
 * hand the model to a Triton export hook.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { writeFileAtomic } from "../hub/atomic";
import { exportToTriton } from "../inference/triton/export";
import { PACKAGE_ROOT } from "../native";
import { EmbeddingsModelInterface } from "../interface";
import { TextToTextE5Model } from "../models/e5";
import { readCatalogue, readClickstream, type ClickstreamSession } from "./clickstream/format";
import { makePairs } from "./clickstream/pairs";
import { heldOutSlices, splitSessions } from "./clickstream/split";
import { evaluateHeldOut, type HeldOutMetrics } from "./evaluate";
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
  /** Default "demo-output": model/, triton/, checkpoints/, logs/, report.json, split.json. */
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
  /**
   * true (default): the held-out items never appear in training (item-disjoint,
   * splitSessions). false measures memory as well; the item-disjoint numbers are
   * then those held-out sessions that happen to click no training positive.
   */
  readonly preventItemLeakage?: boolean;
  /** Held-out metrics before training, every this many steps and at each epoch's end (the plot's curves). Default 40. */
  readonly validateEveryNSteps?: number;
  readonly progress?: TrainerOptions["progress"];
  /** Loads the model; default TextToTextE5Model.fromPretrained(dir, {maxLength, queryPrefix: "", itemPrefix: ""}): mean pooling. */
  readonly loadModel?: (dir: string, options: { maxLength: number }) => Promise<DemoModel>;
  /**
   * The Triton export: called with the fine-tuned model and `<outDir>/triton`.
   * Default: exportToTriton (the query/items managers of the model) as model
   * "default", replacing an earlier demo run's version. null skips the export.
   */
  readonly exportToTriton?: ((model: DemoModel, repositoryDir: string) => Promise<void>) | null;
  readonly log?: (line: string) => void;
}

/** The five numbers report.json gives per model and slice. */
export type ReportMetrics = Readonly<Record<"recall@1" | "recall@5" | "recall@10" | "mrr" | "ndcg@10", number>>;

/** demo-output/report.json: held-out retrieval over the whole catalogue, by slice (see heldOutSlices). */
export interface DemoReport {
  /** Held-out sessions whose clicked items were no training positive (nor shown in training). */
  readonly item_disjoint: { readonly before: ReportMetrics; readonly after: ReportMetrics; readonly bm25: ReportMetrics } | null;
  /** Held-out sessions whose clicked items all were training positives. */
  readonly seen_items: { readonly before: ReportMetrics; readonly after: ReportMetrics; readonly bm25: ReportMetrics } | null;
  /** Held-out sessions whose query no training session asked (they overlap the two above). */
  readonly unseen_queries: { readonly before: ReportMetrics; readonly after: ReportMetrics; readonly bm25: ReportMetrics } | null;
  /** Sessions: training, held out (all), and in each slice. */
  readonly sessions: { readonly train: number; readonly heldout: number; readonly item_disjoint: number; readonly seen_items: number; readonly unseen_queries: number };
}

export interface DemoResult {
  /** Item-disjoint held-out metrics before fine-tuning (the headline; "sessions" among them). */
  readonly before: Record<string, number>;
  /** Item-disjoint held-out metrics after fine-tuning. */
  readonly after: Record<string, number>;
  /** Item-disjoint held-out metrics of BM25 over the catalogue texts. */
  readonly bm25: Record<string, number>;
  /** Every slice, before, after and BM25. */
  readonly heldOut: { readonly before: HeldOutMetrics; readonly after: HeldOutMetrics; readonly bm25: HeldOutMetrics };
  readonly report: DemoReport;
  /** The tables printed, one per slice. */
  readonly table: string;
  readonly fit: FitResult;
  /** The saved Hugging Face folder. */
  readonly modelDir: string;
  readonly tritonDir: string | null;
}

/**
 * The default model with mean pooling (TextToTextE5Model without prefixes):
 * from random weights a BERT learns the clickstream's synonyms in minutes, and
 * the mean of a text's token states carries them to items it never trained on;
 * the pooler (dense + tanh of [CLS]) barely moved in the same run (README, "The main job").
 */
async function loadDefaultModel(dir: string, options: { maxLength: number }): Promise<DemoModel> {
  return TextToTextE5Model.fromPretrained(dir, { ...options, queryPrefix: "", itemPrefix: "" });
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

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

const REPORTED = ["recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"] as const;

function reported(m: Record<string, number>): ReportMetrics {
  return Object.fromEntries(REPORTED.map((k) => [k, m[k] as number])) as Record<(typeof REPORTED)[number], number>;
}

type Slice = "itemDisjoint" | "seenItems" | "unseenQueries";

function makeReport(before: HeldOutMetrics, after: HeldOutMetrics, bm25: HeldOutMetrics, sessions: DemoReport["sessions"]): DemoReport {
  const slice = (k: Slice) => {
    const [b, a, l] = [before[k], after[k], bm25[k]];
    return b && a && l ? { before: reported(b), after: reported(a), bm25: reported(l) } : null;
  };
  return { item_disjoint: slice("itemDisjoint"), seen_items: slice("seenItems"), unseen_queries: slice("unseenQueries"), sessions };
}

const SLICES: readonly { key: Slice; title: string }[] = [
  { key: "itemDisjoint", title: "unseen items (item-disjoint: no clicked item was a training positive)" },
  { key: "seenItems", title: "seen items (every clicked item was a training positive)" },
  { key: "unseenQueries", title: "unseen queries (no training session asked them)" },
];

/** One before/after/BM25 table per non-empty slice, titled with its session count. */
function tables(before: HeldOutMetrics, after: HeldOutMetrics, bm25: HeldOutMetrics): string {
  const shown = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== "sessions"));
  return SLICES.flatMap(({ key, title }) => {
    const [b, a, l] = [before[key], after[key], bm25[key]];
    return b && a && l ? [`held-out, ${title}, ${b.sessions} sessions, whole catalogue:\n${formatMetricTable(shown(b), shown(a), { bm25: shown(l) })}`] : [];
  }).join("\n\n");
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
  const split = splitSessions(sessions, { validationFraction: 0.2, seed, preventItemLeakage: options.preventItemLeakage ?? true });
  const slices = heldOutSlices(split.train, split.validation);
  const { pairs, skipped } = makePairs(split.train, catalogue, { maxNegativesPerClick: options.maxNegativesPerClick ?? 2, seed });
  // val_loss is a cheap curve on the first held-out pairs; the retrieval metrics rank for every held-out session.
  const validationPairs = makePairs(split.validation, catalogue, { maxNegativesPerClick: 1, seed }).pairs.slice(0, 512);
  log(`data: ${catalogue.size} items; ${split.train.length} training sessions -> ${pairs.length} pairs (${skipped.irrelevant} without clicks, ${skipped.noNegatives} without negatives); ${split.validation.length} held-out sessions: ${slices.unseenItems.length} with unseen items (item-disjoint), ${slices.seenItems.length} with seen items, ${slices.unseenQueries.length} with unseen queries`);

  // outDir holds the demo's own products; a second `npm run demo` replaces the first run's.
  const previous = ["checkpoints", "logs", "model", "triton", "report.json", "split.json"].filter((d) => fs.existsSync(path.join(outDir, d)));
  if (previous.length > 0) {
    log(`replacing the previous demo run in ${outDir} (${previous.join(", ")})`);
    for (const d of previous) await fs.promises.rm(path.join(outDir, d), { recursive: true, force: true });
  }

  const heldOut = { train: split.train, heldOut: split.validation };
  const bm25 = await evaluateHeldOut("bm25", heldOut, catalogue);
  const model = await (options.loadModel ?? loadDefaultModel)(modelDir, { maxLength });
  try {
    const before = await evaluateHeldOut(model, heldOut, catalogue);
    const trainer = new Trainer({
      seed,
      maxEpochs: options.epochs ?? 1,
      ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}),
      batchSize: options.batchSize ?? 32,
      loss: options.loss ?? { kind: "info_nce", temperature: 0.05 },
      // The default model starts from random weights: 1e-3 moves it in one epoch (5e-5 suits pretrained checkpoints; README measures 1e-4).
      optimizer: { kind: "adamw", lr: options.lr ?? 1e-3, weightDecay: 0.01 },
      schedule: { kind: "linear", warmupSteps: 10 },
      gradientClipVal: 1,
      evaluation: { sessions: split.validation, catalogue, train: split.train },
      validateEveryNSteps: options.validateEveryNSteps ?? 40,
      validateAtStart: true,
      checkpoint: { dir: path.join(outDir, "checkpoints"), keepLast: 1 },
      logDir: path.join(outDir, "logs"),
      ...(options.progress !== undefined ? { progress: options.progress } : {}),
    });
    const fit = await trainer.fit(model, { train: pairs, validation: validationPairs });
    const after = await evaluateHeldOut(model, heldOut, catalogue);
    const table = tables(before, after, bm25);
    log(table);
    const report = makeReport(before, after, bm25, {
      train: split.train.length, heldout: split.validation.length,
      item_disjoint: slices.unseenItems.length, seen_items: slices.seenItems.length, unseen_queries: slices.unseenQueries.length,
    });
    await writeJson(path.join(outDir, "report.json"), report);
    // Which sessions went where, so the split can be checked against the clickstream file itself.
    const ids = (list: readonly ClickstreamSession[]) => list.map((x) => x.sessionId);
    await writeJson(path.join(outDir, "split.json"), { train: ids(split.train), item_disjoint: ids(slices.unseenItems), seen_items: ids(slices.seenItems), unseen_queries: ids(slices.unseenQueries) });
    const savedDir = path.join(outDir, "model");
    await saveFolder(model, modelDir, savedDir);
    log(`saved the fine-tuned model to ${savedDir}; metrics in ${path.join(outDir, "report.json")} and ${path.join(outDir, "logs")} (metrics.csv, metrics.svg, metrics.png)`);
    let tritonDir: string | null = null;
    const exporter = options.exportToTriton === undefined ? exportDefault : options.exportToTriton;
    if (exporter) {
      tritonDir = path.join(outDir, "triton");
      await exporter(model, tritonDir);
      log(`exported to the Triton repository ${tritonDir}`);
    }
    const none = { sessions: 0 };
    return { before: before.itemDisjoint ?? none, after: after.itemDisjoint ?? none, bm25: bm25.itemDisjoint ?? none, heldOut: { before, after, bm25 }, report, table, fit, modelDir: savedDir, tritonDir };
  } finally {
    model.dispose();
  }
}
