/**
 * What the Trainer drives: a LightningModule (lib/interface.ts) with its
 * modules named, optionally freezable; and the two-tower model shape that
 * RankingTask trains (TextToTextBertModel, TextToTextE5Model).
 */
import type { OptimizerConfig } from "../interface";
import type { Module } from "../module";
import type { Tensor } from "../tensor";

export interface TrainingModule<B = unknown, V = B> {
  /** The loss of one micro-batch: a scalar tensor with an autograd graph. */
  trainingStep(batch: readonly B[], batchIndex: number): Promise<Tensor>;
  /** Metrics of one validation batch (averaged over batches, weighted by batch size). */
  validationStep?(batch: readonly V[], batchIndex: number): Promise<Record<string, number>>;
  /** Metrics over the whole validation set, once per validation (e.g. retrieval over a catalogue). */
  validationEnd?(): Promise<Record<string, number>>;
  configureOptimizers(): readonly OptimizerConfig[];
  /** The modules by name ("query", "items"): train()/eval() switching and checkpoint file names. */
  modules(): ReadonlyMap<string, Module>;
  /**
   * Data-parallel: true when trainingStep's loss is already the global batch's (it gathered the
   * other ranks' rows, RankingTask with distributed.gatherAcrossRanks): the Trainer then does
   * not weight it by this rank's share. Default false.
   */
  readonly lossIsGlobal?: boolean;
  /** Freeze the embeddings and first `layers` layers (see EmbeddingsModelInterface.fixQueryModel). */
  freeze?(layers: number): void;
  unfreeze?(): void;
}

/** A two-tower text model with graph-recording encoders. */
export interface EncodingModel {
  readonly sameQueryAndItems: boolean;
  getQueryModel(): Module;
  getItemsModel(): Module;
  /** [n, dim] query embeddings; with `grad` the tensor carries the autograd graph. */
  encodeQueries(texts: readonly string[], options: { grad: boolean }): Promise<Tensor>;
  /** [n, dim] item embeddings. */
  encodeItems(items: readonly string[], options: { grad: boolean }): Promise<Tensor>;
  fixQueryModel(numFixedLayers: number): void;
  unfixQueryModel(): void;
  fixItemModel(numFixedLayers: number): void;
  unfixItemModel(): void;
}

export function isEncodingModel(value: unknown): value is EncodingModel {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return ["encodeQueries", "encodeItems", "getQueryModel", "getItemsModel", "fixQueryModel"].every((k) => typeof v[k] === "function");
}

export function isTrainingModule(value: unknown): value is TrainingModule {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.trainingStep === "function" && typeof v.configureOptimizers === "function" && typeof v.modules === "function";
}
