/**
 * One process of the data-parallel tests (test/e2e/ddp.test.ts,
 * test/e2e/ddp-models.test.ts, test/faults/ddp-faults.test.ts): trains the
 * two-tower MLP on synthetic pairs, or (`model`) a fixture model on pairs of
 * the fixture's texts and images, with the options in argv[2] (JSON) and
 * writes the final parameters
 * (as float64 numbers, by module and name) and the step losses to `out`.
 * strategy "ddp" reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
 * A failure prints "FAILED <name> <code>: <message>" and exits 1.
 */
import * as fs from "node:fs";

import * as path from "node:path";

import { Tensor, TextToImageClipModel, TextToTextBertModel, TorchScriptEmbeddingsModel, type Module, type TrainingPair } from "../../lib";
import { Trainer } from "../../lib/training/trainer";
import type { TrainerOptions } from "../../lib/training/trainer-options";
import type { EncodingModel } from "../../lib/training/training-module";
import { FIXTURES, readReferenceJson } from "./fixtures";
import { FEATURES, features, MlpTwoTower, syntheticPairs } from "./mlp-two-tower";

/**
 * The model trained: the MLP two-tower (default); bert-tiny with towers "separate"; clip-tiny
 * (text queries, image items); two TorchScript towers (query.pt, items.pt). `modelDir` holds the
 * files: a bert-tiny copy (e.g. with dropout 0) or the folder of query.pt and items.pt.
 */
export type WorkerModel = "mlp" | "bert-separate" | "clip" | "torchscript";

export interface WorkerSpec {
  readonly model?: WorkerModel;
  readonly modelDir?: string;
  readonly strategy: "single" | "ddp";
  readonly dtype: "float32" | "float64";
  /** The MLP's device (default "cpu"; test/cuda/ddp-nccl.cuda.test.ts trains it on "cuda"). */
  readonly device?: "cpu" | "cuda";
  readonly out: string;
  readonly batchSize: number;
  readonly trainSize: number;
  readonly maxEpochs?: number;
  readonly timeoutMs?: number;
  readonly checkpointDir?: string;
  /** Validation pairs (validated at the epoch's end) and a logDir (rank 0 alone should write it). */
  readonly validationSize?: number;
  readonly logDir?: string;
  /** InfoNCE instead of the per-pair cosine margin loss; gather: distributed.gatherAcrossRanks. */
  readonly infoNce?: boolean;
  readonly gather?: boolean;
  readonly resume?: boolean;
  /** Rank that SIGKILLs itself at its `killAtCall`-th grad-recording query encode. */
  readonly killRank?: number;
  readonly killAtCall?: number;
}

/** The MLP two-tower in the spec's dtype (float64 inputs for float64 towers). */
class Towers extends MlpTwoTower {
  #calls = 0;
  constructor(readonly spec: WorkerSpec) {
    super({ seed: 3 });
    if (spec.dtype === "float64") (this.query.to("float64"), this.items.to("float64"));
    if (spec.device === "cuda") (this.query.to("cuda"), this.items.to("cuda"));
  }
  async #encode(texts: readonly string[], grad: boolean, query: boolean): Promise<Tensor> {
    const f = features(texts);
    using x = Tensor.from(this.spec.dtype === "float64" ? Float64Array.from(f) : f, [texts.length, FEATURES], { device: this.spec.device ?? "cpu" });
    return (query ? this.query : this.items).forwardTensor([x], { grad });
  }
  override encodeQueries(texts: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    if (options.grad && ++this.#calls === this.spec.killAtCall && Number(process.env.RANK) === this.spec.killRank) process.kill(process.pid, "SIGKILL");
    return this.#encode(texts, options.grad, true);
  }
  override encodeItems(items: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    return this.#encode(items, options.grad, false);
  }
}

type Trainable = EncodingModel & { getQueryModel(): Module; getItemsModel(): Module };

/** `count` pairs cycling over `queries` and `items` (positive i, negative i + 1). */
function fixturePairs(count: number, queries: readonly string[], items: readonly string[]): TrainingPair[] {
  return Array.from({ length: count }, (_, i) => ({ sessionId: `s${i}`, query: queries[i % queries.length] as string, positiveId: `p${i}`, negativeId: `n${i}`, positive: items[i % items.length] as string, negative: items[(i + 1) % items.length] as string }));
}

/** The spec's model (float64: its towers converted after loading) and its training pairs. */
async function load(spec: WorkerSpec): Promise<{ model: Trainable; train: (count: number, seed: number) => TrainingPair[] }> {
  const texts = () => readReferenceJson(spec.model === "clip" ? "clip-tiny" : "bert-tiny").texts;
  let model: Trainable;
  let train: (count: number, seed: number) => TrainingPair[];
  switch (spec.model ?? "mlp") {
    case "mlp":
      return { model: new Towers(spec), train: syntheticPairs };
    case "bert-separate":
      model = await TextToTextBertModel.fromPretrained(spec.modelDir ?? path.join(FIXTURES, "bert-tiny"), { maxLength: 32, towers: "separate" });
      train = (count) => fixturePairs(count, texts(), texts().slice().reverse());
      break;
    case "clip": {
      const dir = path.join(FIXTURES, "clip-tiny");
      model = await TextToImageClipModel.fromPretrained(dir);
      train = (count) => fixturePairs(count, texts(), ["image0.png", "image1.png", "image2.png"].map((f) => path.join(dir, f)));
      break;
    }
    case "torchscript":
      model = await TorchScriptEmbeddingsModel.load({ queryModel: path.join(spec.modelDir as string, "query.pt"), itemsModel: path.join(spec.modelDir as string, "items.pt"), tokenizer: path.join(FIXTURES, "bert-tiny"), maxLength: 32 });
      train = (count) => fixturePairs(count, texts(), texts().slice().reverse());
      break;
  }
  if (spec.dtype === "float64") (model.getQueryModel().to("float64"), model.getItemsModel().to("float64"));
  return { model, train };
}

async function main(spec: WorkerSpec): Promise<void> {
  const { model, train } = await load(spec);
  const mlp = (spec.model ?? "mlp") === "mlp";
  const options: TrainerOptions = {
    progress: false,
    seed: 5,
    strategy: spec.strategy,
    batchSize: spec.batchSize,
    maxEpochs: spec.maxEpochs ?? 1,
    loss: spec.infoNce ? { kind: "info_nce", temperature: 0.1 } : { kind: "cosine_margin", margin: 0.4 },  // cosine margin: per pair, a mean over the batch's pairs
    // The fixture models: SGD on both towers. AdamW divides each gradient by its running RMS, so a
    // parameter whose true gradient is 0 up to rounding (the attention key bias: softmax cancels
    // it) takes lr-sized steps of rounding-noise sign, which no summation order reproduces.
    optimizer: mlp ? { kind: "adamw", lr: 0.02, weightDecay: 0.01 } : { kind: "sgd", lr: 0.05, momentum: 0.9 },
    itemsOptimizer: { kind: "sgd", lr: mlp ? 0.1 : 0.05, momentum: 0.9 },
    distributed: { ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}), ...(spec.gather ? { gatherAcrossRanks: true } : {}) },
    ...(spec.checkpointDir !== undefined ? { checkpoint: { dir: spec.checkpointDir, everyNSteps: 1, keepLast: 2 } } : {}),
    ...(spec.logDir !== undefined ? { logDir: spec.logDir } : {}),
  };
  const validation = spec.validationSize !== undefined ? { validation: train(spec.validationSize, 7) } : {};
  const result = await new Trainer(options).fit(model, { train: train(spec.trainSize, 2), ...validation }, spec.resume && spec.checkpointDir ? { resumeFrom: spec.checkpointDir } : {});
  const parameters: Record<string, number[]> = {};
  for (const [tower, m] of [["query", model.getQueryModel()], ["items", model.getItemsModel()]] as const)
    for (const [name, t] of m.stateDict()) parameters[`${tower}.${name}`] = Array.from(t.dtype === "float64" ? (t.data() as Float64Array) : t.toFloat32Array());
  fs.writeFileSync(spec.out, JSON.stringify({ parameters, losses: result.steps.map((s) => s.loss), globalStep: result.globalStep, validations: result.validations }));
}

main(JSON.parse(process.argv[2] as string) as WorkerSpec).catch((error: unknown) => {
  const e = error as { name?: string; code?: string; message?: string };
  process.stderr.write(`FAILED ${e.name} ${e.code}: ${e.message}\n`);
  process.exitCode = 1;
});
