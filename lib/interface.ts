/**
 * EmbeddingsModelInterface: the seed's interface (EmbeddingStudio's
 * `EmbeddingsModelInterface`) in TypeScript naming, over a Lightning-style
 * base that lib/training fills in.
 */
import type { Device } from "./device";
import type { Module, ParameterInfo } from "./module";
import type { Tensor } from "./tensor";
import type { TritonModelStorageManagerClass } from "./inference/triton/storage-manager";

/** One optimizer as `configureOptimizers` describes it (lib/training builds it natively). */
export interface OptimizerConfig {
  readonly kind: "adamw" | "sgd";
  /** Which module's trainable parameters it updates. */
  readonly module: Module;
  readonly lr: number;
  readonly weightDecay?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  readonly momentum?: number;
}

/**
 * The hooks of PyTorch Lightning's LightningModule that a Trainer calls.
 * Kept minimal: lib/training/trainer.ts drives them.
 */
export abstract class LightningModule {
  /** The loss of one training batch (a scalar tensor with an autograd graph). */
  trainingStep?(batch: unknown, batchIndex: number): Promise<Tensor>;
  /** Metrics of one validation batch. */
  validationStep?(batch: unknown, batchIndex: number): Promise<Record<string, number>>;
  /** Optimizers over the trainable parameters. */
  configureOptimizers?(): readonly OptimizerConfig[];
}

/**
 * A two-tower embedding model: a query model and an items model that share one
 * vector space (they may be the same module). Tensor work is async; listing
 * and freezing are synchronous.
 */
export abstract class EmbeddingsModelInterface extends LightningModule implements Disposable {
  /** Device of the models ("cpu", "cuda", "cuda:N"). */
  abstract get device(): Device;

  /** True when one module serves both queries and items (exported once). */
  abstract get sameQueryAndItems(): boolean;

  /** Whether the models take named inputs (`input_ids`, `attention_mask`) rather than positional ones. */
  abstract get isNamedInputs(): boolean;

  /** Parameters of the query model: name, shape, dtype, requiresGrad. */
  abstract getQueryModelParams(): Iterable<ParameterInfo>;

  /** Parameters of the items model. */
  abstract getItemsModelParams(): Iterable<ParameterInfo>;

  /** Example inputs for tracing the query model, on `device` (default: the model's). */
  abstract getQueryModelInputs(device?: Device): Promise<Record<string, Tensor>>;

  /** Example inputs for tracing the items model, on `device` (default: the model's). */
  abstract getItemsModelInputs(device?: Device): Promise<Record<string, Tensor>>;

  /** The storage manager class that exports the query model for Triton. */
  abstract getQueryModelInferenceManagerClass(): TritonModelStorageManagerClass;

  /** The storage manager class that exports the items model for Triton. */
  abstract getItemsModelInferenceManagerClass(): TritonModelStorageManagerClass;

  /** The query module handle (for tracing, optimizers). */
  abstract getQueryModel(): Module;

  /** The items module handle. */
  abstract getItemsModel(): Module;

  /**
   * The one freezing rule (lib/models/freeze.ts, every model): requires_grad
   * false on each parameter of the query tower's embeddings and layers
   * 0..numFixedLayers-1, true on every other parameter of that tower (a
   * second call replaces the first). When query and items share one module,
   * that module is the tower.
   * @throws RangeError unless numFixedLayers is an integer in [0, layers - 1].
   */
  abstract fixQueryModel(numFixedLayers: number): void;

  /** Makes every query model parameter trainable again. */
  abstract unfixQueryModel(): void;

  /** fixQueryModel's rule on the items tower. */
  abstract fixItemModel(numFixedLayers: number): void;

  /** Makes every items model parameter trainable again. */
  abstract unfixItemModel(): void;

  /**
   * Embeds one query: a [1, dim] float32 tensor on the model's device. The
   * package's models run concurrent calls together (micro-batching, on by
   * default: lib/models/query-batcher.ts); each caller gets its own row.
   */
  abstract forwardQuery(query: string): Promise<Tensor>;

  /** Embeds items: an [n, dim] tensor. @throws RangeError for an empty list. */
  abstract forwardItems(items: readonly unknown[]): Promise<Tensor>;

  /** Frees both modules (idempotent). */
  abstract dispose(): void;

  [Symbol.dispose](): void {
    this.dispose();
  }
}
