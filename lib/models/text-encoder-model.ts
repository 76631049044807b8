/**
 * The shared body of TextToTextBertModel and TextToTextE5Model: one BERT-family
 * encoder (native/models/bert.*) serves queries and items, a tokenizer feeds
 * it, and only the pooling and the text prefixes differ.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { checkDevice, type Device } from "../device";
import { describe, type DType } from "../dtypes";
import { UnsupportedError } from "../errors";
import { configInteger, readCheckpointWeights, readConfig, scalarOptions } from "../hub/checkpoint";
import type { HubOptions } from "../hub/hub-settings";
import { resolvePretrained, TEXT_MODEL_FILES } from "../hub/resolve-pretrained";
import { JitTraceTritonModelStorageManager } from "../inference/triton/jit-trace-storage-manager";
import type { TritonModelStorageManagerClass } from "../inference/triton/storage-manager";
import { EmbeddingsModelInterface } from "../interface";
import { Module, type ParameterInfo } from "../module";
import { cat } from "../ops";
import { Tensor } from "../tensor";
import { TextTokenizer, type BatchEncoding } from "../tokenization";
import { fixTower, unfixTower } from "./freeze";

/** Options of `fromPretrained` (with `revision`, `cacheDir`, `token`, `onProgress` for a Hub id). */
export interface TextModelOptions extends HubOptions {
  /** Longest input in tokens (special tokens included); default: the tokenizer's model_max_length. */
  maxLength?: number;
  /** Where the model runs; default "cpu". */
  device?: Device;
  /** Parameter dtype; default "float32" (parity). float16/bfloat16 halve memory, mostly for CUDA. */
  dtype?: Extract<DType, "float32" | "float16" | "bfloat16">;
  /** Items per forward in forwardItems; default 32. */
  batchSize?: number;
  /**
   * "longest" (default): pad each batch to its longest text (faster).
   * "max_length": pad to maxLength, as the original did (fixed shapes for Triton).
   */
  padding?: "longest" | "max_length";
  /** Mixed precision for forwards (autocast on the model's device); default none (strict float32). */
  autocast?: "float16" | "bfloat16";
}

/** How a family pools token states into one vector, and which architectures it accepts. */
export interface TextModelSpec {
  readonly className: string;
  /**
   * Native pooling: "pooler" (dense+tanh of the first token), "mean" (masked
   * mean), "mean_l2" (the same, L2-normalised) or "none" (token states [B, L, H]).
   */
  readonly pooling: "pooler" | "mean" | "mean_l2" | "none";
  readonly queryPrefix: string;
  readonly itemPrefix: string;
}

const ARCHITECTURES: Readonly<Record<string, { native: string; prefixes: readonly string[] }>> = {
  bert: { native: "bert", prefixes: ["bert"] },
  "xlm-roberta": { native: "xlm-roberta", prefixes: ["roberta", "xlm_roberta"] },
  roberta: { native: "xlm-roberta", prefixes: ["roberta"] },
};

/** What fromPretrained read, handed to the subclass constructor. */
export interface LoadedTextModel {
  readonly module: Module;
  readonly tokenizer: TextTokenizer;
  readonly numLayers: number;
  readonly maxLength: number;
  readonly batchSize: number;
  readonly padding: "longest" | "max_length";
  readonly autocast: "float16" | "bfloat16" | undefined;
  readonly dir: string;
}

/**
 * Loads a BERT-family checkpoint folder, or a Hub id through the Hugging Face
 * cache, into a native encoder with `pooling`.
 * @throws CheckpointError (missing files, key or shape mismatch), UnsupportedError (model_type),
 *   HubError (an id the cache lacks offline, a refused download).
 */
export async function loadTextModel(idOrDir: string, spec: TextModelSpec, options: TextModelOptions): Promise<LoadedTextModel> {
  const where = `${spec.className}.fromPretrained(${JSON.stringify(idOrDir)})`;
  if (typeof options !== "object" || options === null) throw new TypeError(`${where}: options must be an object but received ${describe(options)}`);
  const dir = await resolvePretrained(idOrDir, TEXT_MODEL_FILES, options, where);
  const device = checkDevice(options.device ?? "cpu", where);
  const batchSize = options.batchSize ?? 32;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`${where}: batchSize must be a positive integer but received ${String(batchSize)}`);
  if (options.autocast !== undefined && options.autocast !== "float16" && options.autocast !== "bfloat16")
    throw new RangeError(`${where}: autocast must be "float16" or "bfloat16" but received ${describe(options.autocast)}`);
  const padding = options.padding ?? "longest";
  if (padding !== "longest" && padding !== "max_length") throw new RangeError(`${where}: padding must be "longest" or "max_length" but received ${String(padding)}`);
  const config = await readConfig(dir);
  const modelType = String(config.model_type);
  const arch = ARCHITECTURES[modelType];
  if (!arch) throw new UnsupportedError(`${where}: config.json model_type "${modelType}" is not supported by ${spec.className}; supported: ${Object.keys(ARCHITECTURES).join(", ")}`);
  const numLayers = configInteger(config, "num_hidden_layers", dir);
  const tokenizer = await TextTokenizer.fromPretrained(dir);
  const positions = configInteger(config, "max_position_embeddings", dir, 512) - (arch.native === "xlm-roberta" ? configInteger(config, "pad_token_id", dir, 1) + 1 : 0);
  const maxLength = options.maxLength ?? Math.min(tokenizer.modelMaxLength, positions);
  if (!Number.isSafeInteger(maxLength) || maxLength < 2 || maxLength > positions)
    throw new RangeError(`${where}: maxLength must be an integer in [2, ${positions}] (the model's positions) but received ${String(options.maxLength)}`);

  const weights = await readCheckpointWeights(dir, arch.prefixes);
  const module = Module.create(arch.native, { ...scalarOptions(config), pooling: spec.pooling, add_pooling_layer: weights.has("pooler.dense.weight") });
  try {
    await module.loadStateDict(weights);
    if (options.dtype !== undefined && options.dtype !== "float32") module.to(options.dtype);
    if (device !== "cpu") module.to(device);
  } catch (error) {
    module.dispose();
    throw error;
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  return { module, tokenizer, numLayers, maxLength, batchSize, padding, autocast: options.autocast, dir: path.resolve(dir) };
}

/** BERT-family text embeddings behind EmbeddingsModelInterface; query and items share one encoder. */
export abstract class TextEncoderModel extends EmbeddingsModelInterface {
  readonly #module: Module;
  readonly #tokenizer: TextTokenizer;
  readonly #spec: TextModelSpec;
  readonly #numLayers: number;
  /** Longest input in tokens. */
  readonly maxLength: number;
  /** Items per forward in forwardItems. */
  readonly batchSize: number;
  readonly padding: "longest" | "max_length";
  /** Mixed precision of forwards, or undefined for strict float32. */
  readonly autocast: "float16" | "bfloat16" | undefined;
  /** The checkpoint folder this was loaded from. */
  readonly dir: string;
  /** Prepended to queries (E5: "query: "). */
  queryPrefix: string;
  /** Prepended to items (E5: "passage: "). */
  itemPrefix: string;

  protected constructor(loaded: LoadedTextModel, spec: TextModelSpec, prefixes: { queryPrefix?: string; itemPrefix?: string } = {}) {
    super();
    this.#module = loaded.module;
    this.#tokenizer = loaded.tokenizer;
    this.#spec = spec;
    this.#numLayers = loaded.numLayers;
    this.maxLength = loaded.maxLength;
    this.batchSize = loaded.batchSize;
    this.padding = loaded.padding;
    this.autocast = loaded.autocast;
    this.dir = loaded.dir;
    this.queryPrefix = prefixes.queryPrefix ?? spec.queryPrefix;
    this.itemPrefix = prefixes.itemPrefix ?? spec.itemPrefix;
  }

  get device(): Device {
    return this.#module.device;
  }

  get sameQueryAndItems(): boolean {
    return true;
  }

  get isNamedInputs(): boolean {
    return true;
  }

  /** Number of transformer layers (the bound of fix*Model). */
  get numLayers(): number {
    return this.#numLayers;
  }

  get tokenizer(): TextTokenizer {
    return this.#tokenizer;
  }

  getQueryModel(): Module {
    return this.#module;
  }

  getItemsModel(): Module {
    return this.#module;
  }

  getQueryModelParams(): Iterable<ParameterInfo> {
    return this.#module.namedParameters();
  }

  getItemsModelParams(): Iterable<ParameterInfo> {
    return this.#module.namedParameters();
  }

  /** Query and items share one module: exported once, as the "shared" role (queries sent at priority 1). */
  getQueryModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole("shared");
  }

  getItemsModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole("shared");
  }

  async getQueryModelInputs(device?: Device): Promise<Record<string, Tensor>> {
    return this.#exampleInputs(`${this.queryPrefix}example query`, device);
  }

  async getItemsModelInputs(device?: Device): Promise<Record<string, Tensor>> {
    return this.#exampleInputs(`${this.itemPrefix}example item`, device);
  }

  /** Padded to maxLength, like the original's tracing inputs. */
  #exampleInputs(text: string, device?: Device): Promise<Record<string, Tensor>> {
    const target = device === undefined ? this.device : checkDevice(device, "get*ModelInputs");
    const encoding = this.#tokenizer.encodeBatch([text], { maxLength: this.maxLength, padding: "max_length" });
    return Promise.resolve(this.#tensors(encoding, target));
  }

  /** See lib/models/freeze.ts: the embeddings and layers 0..n-1 of the (shared) encoder. */
  fixQueryModel(numFixedLayers: number): void {
    fixTower(this.#module, numFixedLayers, "fixQueryModel");
  }

  unfixQueryModel(): void {
    unfixTower(this.#module);
  }

  fixItemModel(numFixedLayers: number): void {
    fixTower(this.#module, numFixedLayers, "fixItemModel");
  }

  unfixItemModel(): void {
    unfixTower(this.#module);
  }

  async forwardQuery(query: string): Promise<Tensor> {
    if (typeof query !== "string") throw new TypeError(`forwardQuery: expected a string but received ${describe(query)}`);
    if (query.trim() === "") process.emitWarning("forwardQuery: the query is empty; its embedding carries no information", { code: "EMBEDDINGS_TORCH_EMPTY_QUERY" });
    return this.encode([query], { kind: "query" });
  }

  async forwardItems(items: readonly unknown[]): Promise<Tensor> {
    if (!Array.isArray(items)) throw new TypeError(`forwardItems: expected an array of strings but received ${describe(items)}`);
    if (items.length === 0) throw new RangeError("forwardItems: expected at least one item but received an empty array");
    items.forEach((item, i) => {
      if (typeof item !== "string") throw new TypeError(`forwardItems: item ${i} must be a string but received ${describe(item)}`);
    });
    return this.encode(items as readonly string[], { kind: "items" });
  }

  /**
   * Embeds texts (prefix applied by `kind`) in batches of `batchSize`,
   * concatenated natively: [n, dim]. With `grad`, records autograd (training).
   */
  async encode(texts: readonly string[], options: { kind: "query" | "items"; grad?: boolean }): Promise<Tensor> {
    const prefix = options.kind === "query" ? this.queryPrefix : this.itemPrefix;
    const parts: Tensor[] = [];
    try {
      for (let start = 0; start < texts.length; start += this.batchSize) {
        const encoding = this.#tokenizer.encodeBatch(texts.slice(start, start + this.batchSize), { maxLength: this.maxLength, padding: this.padding, prefix });
        const inputs = this.#tensors(encoding, this.device);
        try {
          const forward = this.autocast ? { grad: options.grad ?? false, autocast: this.autocast } : { grad: options.grad ?? false };
          parts.push(await this.finishBatch(await this.#module.forwardTensor(inputs, forward), encoding, options.kind));
        } finally {
          for (const t of Object.values(inputs)) t.dispose();
        }
      }
      if (parts.length === 1) return parts.pop() as Tensor;
      return await cat(parts, 0);
    } finally {
      for (const t of parts) t.dispose();
    }
  }

  /**
   * What the encoder's output becomes before batches are joined; takes
   * ownership of `output`. The families with native pooling return it as it
   * is; SentenceTransformerModel runs its head here.
   */
  protected finishBatch(output: Tensor, _encoding: BatchEncoding, _kind: "query" | "items"): Promise<Tensor> {
    return Promise.resolve(output);
  }

  /** Query embeddings [n, dim] ("query" prefix); with `grad`, the tensor carries the autograd graph (training). */
  encodeQueries(texts: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    return this.encode(texts, { kind: "query", grad: options.grad });
  }

  /** Item embeddings [n, dim] ("items" prefix); with `grad`, for training. */
  encodeItems(items: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    return this.encode(items, { kind: "items", grad: options.grad });
  }

  /**
   * Writes a Hugging Face folder that `fromPretrained` and transformers load:
   * config.json and the tokenizer files copied from the source folder,
   * model.safetensors from the current weights (atomically).
   */
  async savePretrained(dir: string): Promise<void> {
    if (typeof dir !== "string") throw new TypeError(`savePretrained: expected a folder path but received ${describe(dir)}`);
    await fs.promises.mkdir(dir, { recursive: true });
    for (const file of ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "sentencepiece.bpe.model"]) {
      const source = path.join(this.dir, file);
      if (fs.existsSync(source) && path.resolve(source) !== path.resolve(dir, file)) await fs.promises.copyFile(source, path.join(dir, file));
    }
    await this.#module.saveStateDict(path.join(dir, "model.safetensors"), { format: "pt" });
  }

  #tensors(encoding: BatchEncoding, device: Device): Record<string, Tensor> {
    const shape = [encoding.batchSize, encoding.length];
    return {
      input_ids: Tensor.from(encoding.inputIds, shape, { device }),
      attention_mask: Tensor.from(encoding.attentionMask, shape, { device }),
    };
  }

  dispose(): void {
    this.#module.dispose();
  }
}
