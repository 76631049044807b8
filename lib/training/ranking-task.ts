/**
 * RankingTask: the LightningModule that fine-tunes a two-tower model on
 * (query, clicked item, shown-not-clicked item) pairs with a ranking loss.
 * One optimizer for the query model, and a second for the items model when
 * it is another module (EmbeddingStudio's layout).
 */
import type { OptimizerConfig } from "../interface";
import type { Module } from "../module";
import { Tensor } from "../tensor";
import type { ClickstreamSession } from "./clickstream/format";
import type { TrainingPair } from "./clickstream/pairs";
import type { TrainingSeen } from "./clickstream/split";
import { evaluateHeldOut } from "./evaluate";
import { rankingLoss, type RankingLoss } from "./losses";
import type { EncodingModel, TrainingModule } from "./training-module";

/** An optimizer as the Trainer's options describe it (OptimizerConfig without the module). */
export type OptimizerSpec = Omit<OptimizerConfig, "module">;

export interface RankingTaskOptions {
  /** Default cosine_margin with margin 0.2 (the fixtures' training step). */
  readonly loss?: RankingLoss;
  /** Default AdamW, lr 2e-5, weight decay 0.01. */
  readonly optimizer?: OptimizerSpec;
  /** The items model's optimizer when it is not the query model; default: `optimizer`. */
  readonly itemsOptimizer?: OptimizerSpec;
  /** Held-out sessions and the catalogue: validation also reports retrieval metrics over it (see validationEnd). */
  readonly evaluation?: RankingEvaluation;
  /**
   * Data-parallel: [n, dim] rows of this rank -> [global n, dim] rows of every rank, this rank's
   * keeping their graph (DataParallel.gatherRows). Given, training losses are over the global
   * batch (InfoNCE's in-batch negatives come from every rank) and lossIsGlobal is true.
   */
  readonly gatherRows?: (rows: Tensor) => Promise<Tensor>;
}

export interface RankingEvaluation {
  readonly sessions: readonly ClickstreamSession[];
  readonly catalogue: ReadonlyMap<string, string>;
  /**
   * What training saw: the training sessions, or their positives and queries
   * (seenInPairs). The Trainer fills it from the training pairs when absent;
   * without it every held-out session counts as unseen.
   */
  readonly train?: readonly ClickstreamSession[] | TrainingSeen;
}

export const DEFAULT_OPTIMIZER: OptimizerSpec = { kind: "adamw", lr: 2e-5, weightDecay: 0.01 };

export class RankingTask implements TrainingModule<TrainingPair> {
  readonly model: EncodingModel;
  readonly #loss: RankingLoss;
  readonly #optimizer: OptimizerSpec;
  readonly #itemsOptimizer: OptimizerSpec;
  readonly #evaluation: RankingTaskOptions["evaluation"];
  readonly #gatherRows: RankingTaskOptions["gatherRows"];
  readonly lossIsGlobal: boolean;

  constructor(model: EncodingModel, options: RankingTaskOptions = {}) {
    this.model = model;
    this.#loss = options.loss ?? { kind: "cosine_margin", margin: 0.2 };
    this.#optimizer = options.optimizer ?? DEFAULT_OPTIMIZER;
    this.#itemsOptimizer = options.itemsOptimizer ?? this.#optimizer;
    this.#evaluation = options.evaluation;
    this.#gatherRows = options.gatherRows;
    this.lossIsGlobal = options.gatherRows !== undefined;
  }

  modules(): ReadonlyMap<string, Module> {
    const query = this.model.getQueryModel();
    return this.model.sameQueryAndItems ? new Map([["query", query]]) : new Map([["query", query], ["items", this.model.getItemsModel()]]);
  }

  configureOptimizers(): readonly OptimizerConfig[] {
    const configs: OptimizerConfig[] = [{ ...this.#optimizer, module: this.model.getQueryModel() }];
    if (!this.model.sameQueryAndItems) configs.push({ ...this.#itemsOptimizer, module: this.model.getItemsModel() });
    return configs;
  }

  freeze(layers: number): void {
    this.model.fixQueryModel(layers);
    if (!this.model.sameQueryAndItems) this.model.fixItemModel(layers);
  }

  unfreeze(): void {
    this.model.unfixQueryModel();
    if (!this.model.sameQueryAndItems) this.model.unfixItemModel();
  }

  async #embedAndLoss(batch: readonly TrainingPair[], grad: boolean): Promise<Tensor> {
    using query = await this.model.encodeQueries(batch.map((p) => p.query), { grad });
    using positive = await this.model.encodeItems(batch.map((p) => p.positive), { grad });
    using negative = await this.model.encodeItems(batch.map((p) => p.negative), { grad });
    // The loss's graph keeps what backward needs; the handles can go.
    if (!grad || this.#gatherRows === undefined) return rankingLoss(this.#loss, { query, positive, negative });
    using allQueries = await this.#gatherRows(query);
    using allPositives = await this.#gatherRows(positive);
    using allNegatives = await this.#gatherRows(negative);
    return rankingLoss(this.#loss, { query: allQueries, positive: allPositives, negative: allNegatives });
  }

  trainingStep(batch: readonly TrainingPair[]): Promise<Tensor> {
    return this.#embedAndLoss(batch, true);
  }

  async validationStep(batch: readonly TrainingPair[]): Promise<Record<string, number>> {
    using loss = await this.#embedAndLoss(batch, false);
    return { val_loss: loss.toFloat32Array()[0] as number };
  }

  /**
   * Retrieval over the whole catalogue for the held-out sessions, by slice:
   * "val_item_disjoint_<metric>" (recall@1/5/10, mrr, ndcg@10) for sessions
   * whose clicked items were no training positive, "val_seen_items_" and
   * "val_unseen_queries_" recall@10 and mrr, and the distance shifts of all
   * ("val_dist_shift"). A slice without sessions is left out.
   */
  async validationEnd(): Promise<Record<string, number>> {
    if (!this.#evaluation) return {};
    const e = this.#evaluation;
    const m = await evaluateHeldOut(this.model, { train: e.train ?? { positives: new Set(), queries: new Set() }, heldOut: e.sessions }, e.catalogue);
    const out: Record<string, number> = {};
    const put = (prefix: string, metrics: Record<string, number> | null, keys?: readonly string[]) => {
      for (const [k, v] of Object.entries(metrics ?? {})) if (k !== "sessions" && (keys === undefined || keys.includes(k))) out[`val_${prefix}${k}`] = v;
    };
    put("item_disjoint_", m.itemDisjoint);
    put("seen_items_", m.seenItems, ["recall@10", "mrr"]);
    put("unseen_queries_", m.unseenQueries, ["recall@10", "mrr"]);
    put("", m.all, ["dist_shift", "irrelevant_dist_shift"]);
    return out;
  }
}
