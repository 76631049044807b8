/**
 * An embeddings model over TorchScript files (traced by this package, by
 * PyTorch, or fetched from a Triton repository): a query .pt and an items .pt,
 * or one file that serves both, plus a Hugging Face tokenizer folder.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import type { Device } from "../device";
import { describe } from "../dtypes";
import { CheckpointError, DisposedError, ShapeError, UnsupportedError } from "../errors";
import { JitTraceTritonModelStorageManager } from "../inference/triton/jit-trace-storage-manager";
import type { TritonModelStorageManagerClass } from "../inference/triton/storage-manager";
import type { HubOptions } from "../hub/hub-settings";
import { resolvePretrained, type FilePlan } from "../hub/resolve-pretrained";
import { Module, type HostArray, type ParameterInfo } from "../module";
import { Tensor } from "../tensor";
import { TextTokenizer } from "../tokenization";
import { fixTower, unfixTower } from "./freeze";
import { useModules } from "./ownership";
import { forwardInBatches } from "./forward-batches";
import { QueryBatcher, resolveMicroBatching, type MicroBatching, type MicroBatchingSettings } from "./query-batcher";
import { QueryBatchingModel } from "./query-batching-model";
import { stackEncodings, type BatchEncoding } from "../tokenization/padding";
import { registerModelKind } from "./kinds";

/** Inputs a tokenizer makes, by the argument names Hugging Face models use. */
const TOKENIZER_INPUTS = ["input_ids", "attention_mask", "token_type_ids"] as const;
type TokenizerInput = (typeof TOKENIZER_INPUTS)[number];

export interface TorchScriptEmbeddingsModelOptions {
  /** TorchScript file of the query model. */
  queryModel: string;
  /** TorchScript file of the items model; default the query model's (one module serves both). */
  itemsModel?: string;
  /** Folder with tokenizer.json and tokenizer_config.json. */
  tokenizer: string;
  /** Longest tokenised text, special tokens included. Default: the tokenizer's model_max_length. */
  maxLength?: number;
  /** Default "cpu". */
  device?: Device;
  /** Prepended to queries (E5: "query: "). Default "". */
  queryPrefix?: string;
  /** Prepended to items (E5: "passage: "). Default "". */
  itemsPrefix?: string;
  /** Items embedded per forward. Default 32. */
  batchSize?: number;
  /**
   * Concurrent forwardQuery calls share one forward: as TextModelOptions.microBatching
   * (default on). Queries of different lengths share one only when forward
   * takes attention_mask and the tokenizer pads on the right.
   */
  microBatching?: MicroBatching;
}

interface ResolvedOptions {
  readonly queryPrefix: string;
  readonly itemsPrefix: string;
  readonly batchSize: number;
  readonly maxLength: number | undefined;
}

/** Options of fromPretrained (with `revision`, `cacheDir`, `token`, `onProgress` for a Hub id). */
export type TorchScriptPretrainedOptions = Omit<TorchScriptEmbeddingsModelOptions, "queryModel" | "itemsModel" | "tokenizer"> & HubOptions;

/** query.pt and items.pt, else model.pt, and the tokenizer files. */
const TORCHSCRIPT_FILES: FilePlan = async (get) => {
  await get("tokenizer.json");
  await get("tokenizer_config.json");
  await get("special_tokens_map.json", { optional: true });
  const pair = (await get("query.pt", { optional: true })) !== null && (await get("items.pt", { optional: true })) !== null;
  if (!pair) await get("model.pt", { optional: true });
};

/**
 * EmbeddingsModelInterface over TorchScript modules whose forward takes
 * input_ids, attention_mask and/or token_type_ids by name and returns
 * [batch, dim] embeddings.
 */
export class TorchScriptEmbeddingsModel extends QueryBatchingModel {
  #query: Module;
  #items: Module;
  readonly #tokenizer: TextTokenizer;
  readonly #options: ResolvedOptions;
  #disposed = false;

  private constructor(query: Module, items: Module, tokenizer: TextTokenizer, options: ResolvedOptions, microBatching: MicroBatchingSettings, file: string) {
    super(
      new QueryBatcher<BatchEncoding>(
        {
          modules: [query],
          expect: () => query.expectForward(),
          prepare: (text) => this.#tokenize([text], options.queryPrefix),
          length: (encoding) => encoding.length,
          // Without a mask the module cannot tell padding from tokens; padding before the tokens moves position ids.
          padInvariant: query.inputNames.includes("attention_mask") && tokenizer.paddingSide === "right",
          run: (encodings) => this.#forwardEncoding(this.#live(), stackEncodings(encodings, tokenizer.padTokenId, tokenizer.paddingSide), "forwardQuery", false),
        },
        microBatching,
        `TorchScriptEmbeddingsModel(${file})`,
      ),
    );
    this.#query = query;
    this.#items = items;
    this.#tokenizer = tokenizer;
    this.#options = options;
  }

  /**
   * Loads the files and the tokenizer.
   * @throws CheckpointError for a missing file; UnsupportedError for a file
   *   whose forward takes inputs a tokenizer does not make, or that uses
   *   operators this libtorch lacks; TypeError/RangeError for bad options.
   */
  static async load(options: TorchScriptEmbeddingsModelOptions): Promise<TorchScriptEmbeddingsModel> {
    const what = "TorchScriptEmbeddingsModel.load";
    if (typeof options !== "object" || options === null) throw new TypeError(`${what}: expected options {queryModel, tokenizer} but received ${describe(options)}`);
    const { queryModel, itemsModel = queryModel, tokenizer, device = "cpu", maxLength, queryPrefix = "", itemsPrefix = "", batchSize = 32 } = options;
    for (const [name, value] of [["queryModel", queryModel], ["itemsModel", itemsModel], ["tokenizer", tokenizer]] as const) {
      if (typeof value !== "string") throw new TypeError(`${what}: ${name} must be a path but received ${describe(value)}`);
      if (!fs.existsSync(value)) throw new CheckpointError(`${what}: ${name} ${value} does not exist`);
    }
    if (maxLength !== undefined && (!Number.isSafeInteger(maxLength) || maxLength < 1)) throw new RangeError(`${what}: maxLength must be a positive integer but received ${describe(maxLength)}`);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`${what}: batchSize must be a positive integer but received ${describe(batchSize)}`);
    if (typeof queryPrefix !== "string" || typeof itemsPrefix !== "string") throw new TypeError(`${what}: queryPrefix and itemsPrefix must be strings`);
    const microBatching = resolveMicroBatching(options.microBatching, what);
    const textTokenizer = await TextTokenizer.fromPretrained(tokenizer);
    if (maxLength !== undefined && maxLength > textTokenizer.modelMaxLength)
      throw new RangeError(`${what}: maxLength ${maxLength} exceeds the tokenizer's model_max_length (${textTokenizer.modelMaxLength}) in ${tokenizer}`);
    const shared = fs.realpathSync(queryModel) === fs.realpathSync(itemsModel);
    const query = await Module.loadTorchScript(queryModel, { device });
    let items = query;
    try {
      checkInputs(query, queryModel);
      if (!shared) {
        items = await Module.loadTorchScript(itemsModel, { device });
        checkInputs(items, itemsModel);
      }
    } catch (error) {
      query.dispose();
      if (items !== query) items.dispose();
      throw error;
    }
    return new TorchScriptEmbeddingsModel(query, items, textTokenizer, { queryPrefix, itemsPrefix, batchSize, maxLength }, microBatching, queryModel);
  }

  /**
   * Loads `<dir>/query.pt` and `<dir>/items.pt`, or `<dir>/model.pt` for both,
   * with the tokenizer files in `dir`; a Hub id ("org/name") loads from the
   * Hugging Face cache, downloading what it lacks.
   */
  static async fromPretrained(idOrDir: string, options: TorchScriptPretrainedOptions = {}): Promise<TorchScriptEmbeddingsModel> {
    if (typeof idOrDir !== "string") throw new TypeError(`TorchScriptEmbeddingsModel.fromPretrained: expected a folder but received ${describe(idOrDir)}`);
    const { revision, cacheDir, token, onProgress, ...loadOptions } = options;
    const hub: HubOptions = { ...(revision === undefined ? {} : { revision }), ...(cacheDir === undefined ? {} : { cacheDir }), ...(token === undefined ? {} : { token }), ...(onProgress === undefined ? {} : { onProgress }) };
    const dir = await resolvePretrained(idOrDir, TORCHSCRIPT_FILES, hub, `TorchScriptEmbeddingsModel.fromPretrained(${JSON.stringify(idOrDir)})`);
    const file = (name: string) => path.join(dir, name);
    if (fs.existsSync(file("query.pt")) && fs.existsSync(file("items.pt")))
      return TorchScriptEmbeddingsModel.load({ ...loadOptions, queryModel: file("query.pt"), itemsModel: file("items.pt"), tokenizer: dir });
    if (fs.existsSync(file("model.pt"))) return TorchScriptEmbeddingsModel.load({ ...loadOptions, queryModel: file("model.pt"), tokenizer: dir });
    throw new CheckpointError(`TorchScriptEmbeddingsModel.fromPretrained: ${dir} has neither query.pt and items.pt nor model.pt`);
  }

  get device(): Device {
    return this.#live().device;
  }

  get sameQueryAndItems(): boolean {
    return this.#query === this.#items;
  }

  /** True: the files' forward arguments are named input_ids, attention_mask, token_type_ids. */
  get isNamedInputs(): boolean {
    return true;
  }

  getQueryModelParams(): ParameterInfo[] {
    return this.#live().namedParameters();
  }

  getItemsModelParams(): ParameterInfo[] {
    this.#live();
    return this.#items.namedParameters();
  }

  async getQueryModelInputs(device?: Device): Promise<Record<string, Tensor>> {
    return this.#encode(this.#live(), ["red running shoes", "a query of a few more words"], this.#options.queryPrefix, device);
  }

  async getItemsModelInputs(device?: Device): Promise<Record<string, Tensor>> {
    this.#live();
    return this.#encode(this.#items, ["Trail running shoe with a rubber sole", "Leather boots"], this.#options.itemsPrefix, device);
  }

  getQueryModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole(this.sameQueryAndItems ? "shared" : "query");
  }

  getItemsModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole(this.sameQueryAndItems ? "shared" : "items");
  }

  getQueryModel(): Module {
    return this.#live();
  }

  getItemsModel(): Module {
    this.#live();
    return this.#items;
  }

  /** Freezes embeddings and layers 0..n-1 (lib/models/freeze.ts: names `…embeddings.…`, `…layer.<i>.…`, `…layers.<i>.…`). */
  fixQueryModel(numFixedLayers: number): void {
    fixTower(this.#live(), numFixedLayers, "fixQueryModel");
  }

  unfixQueryModel(): void {
    unfixTower(this.#live());
  }

  fixItemModel(numFixedLayers: number): void {
    this.#live();
    fixTower(this.#items, numFixedLayers, "fixItemModel");
  }

  unfixItemModel(): void {
    this.#live();
    unfixTower(this.#items);
  }

  /** Embeds one query: [1, dim] on the model's device. @throws TypeError for a non-string. */
  async forwardQuery(query: string): Promise<Tensor> {
    if (typeof query !== "string") throw new TypeError(`forwardQuery: expected a string but received ${describe(query)}`);
    this.#live();
    return this.submitQuery(query);  // concurrent calls share forwards; they wait for a running fit (query-batcher.ts)
  }

  /** Embeds items (strings): [n, dim]. @throws RangeError for an empty list, TypeError naming a non-string. */
  async forwardItems(items: readonly unknown[]): Promise<Tensor> {
    if (!Array.isArray(items)) throw new TypeError(`forwardItems: expected an array of strings but received ${describe(items)}`);
    if (items.length === 0) throw new RangeError("forwardItems: expected at least one item");
    items.forEach((item, i) => {
      if (typeof item !== "string") throw new TypeError(`forwardItems: items[${i}] must be a string but received ${describe(item)}`);
    });
    this.#live();
    return useModules([this.#items], () => this.#embedBatches(this.#items, items as readonly string[], this.#options.itemsPrefix, false, "forwardItems"));
  }

  /** Query embeddings [n, dim] (the Trainer's queries); with `grad`, the tensor carries the autograd graph. */
  async encodeQueries(texts: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    const module = this.#live();
    return useModules([module], () => this.#embedBatches(module, texts, this.#options.queryPrefix, options.grad, "encodeQueries"));  // waits for a running fit
  }

  /** Item embeddings [n, dim] through the items file; with `grad`, for training. */
  async encodeItems(items: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    this.#live();
    return useModules([this.#items], () => this.#embedBatches(this.#items, items, this.#options.itemsPrefix, options.grad, "encodeItems"));  // waits for a running fit
  }

  async #embedBatches(module: Module, texts: readonly string[], prefix: string, grad: boolean, what: string): Promise<Tensor> {
    return forwardInBatches(texts.length, this.#options.batchSize, {
      prepare: (start, end) => this.#tokenize(texts.slice(start, end), prefix),
      forward: (batch) => this.#forwardEncoding(module, batch, what, grad),
    });
  }

  /**
   * Frees the modules (idempotent); queries waiting for a batch are rejected with a DisposedError.
   * @throws BusyError while a forward runs (as Module.dispose); call it again once that settles.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.closeQueries();
    this.#query.dispose();
    if (this.#items !== this.#query) this.#items.dispose();
    this.#disposed = true;
  }

  #live(): Module {
    if (this.#disposed) throw new DisposedError("TorchScriptEmbeddingsModel: the model was disposed");
    return this.#query;
  }

  /** Tokenized off the JS thread when the batch is large (lib/tokenization/tokenizer-pool.ts). */
  #tokenize(texts: readonly string[], prefix: string): Promise<BatchEncoding> {
    const { maxLength } = this.#options;
    return this.#tokenizer.encodeBatchAsync(texts, { ...(maxLength === undefined ? {} : { maxLength }), padding: "longest", prefix });
  }

  async #encode(module: Module, texts: readonly string[], prefix: string, device: Device | undefined): Promise<Record<string, Tensor>> {
    return this.#tensors(module, await this.#tokenize(texts, prefix), device);
  }

  #tensors(module: Module, batch: BatchEncoding, device: Device | undefined): Record<string, Tensor> {
    const arrays = tokenizerArrays(batch);
    const out: Record<string, Tensor> = {};
    for (const name of module.inputNames) out[name] = Tensor.from(arrays[name as TokenizerInput], [batch.batchSize, batch.length], { device: device ?? module.device });
    return out;
  }

  async #embed(module: Module, texts: readonly string[], prefix: string, what: string, grad = false): Promise<Tensor> {
    return this.#forwardEncoding(module, await this.#tokenize(texts, prefix), what, grad);
  }

  async #forwardEncoding(module: Module, batch: BatchEncoding, what: string, grad: boolean): Promise<Tensor> {
    // Host arrays: copied onto the module's device as the forward is queued.
    const arrays = tokenizerArrays(batch);
    const inputs: Record<string, HostArray> = {};
    for (const name of module.inputNames) inputs[name] = { data: arrays[name as TokenizerInput], shape: [batch.batchSize, batch.length] };
    const output = await module.forward(inputs, { grad });
    if (!(output instanceof Tensor)) throw new UnsupportedError(`${what}: the TorchScript module returns ${describe(output)}, not one [batch, dim] tensor`);
    if (output.shape.length !== 2 || output.shape[0] !== batch.batchSize) {
      const shape = output.shape;
      output.dispose();
      throw new ShapeError(`${what}: the TorchScript module returns [${shape.join(", ")}] for ${batch.batchSize} texts; expected [${batch.batchSize}, dim] (export a module that pools)`);
    }
    return output;
  }
}

/** The tokenizer must be able to make every input forward takes. */
function checkInputs(module: Module, file: string): void {
  const unknown = module.inputNames.filter((n) => !(TOKENIZER_INPUTS as readonly string[]).includes(n));
  if (unknown.length > 0 || module.inputNames.length === 0)
    throw new UnsupportedError(`${file}: forward takes ${module.inputNames.join(", ") || "no inputs"}; a text model takes ${TOKENIZER_INPUTS.join(", ")} (by these names)`);
}

registerModelKind("torchscript", (dir, options) => TorchScriptEmbeddingsModel.fromPretrained(dir, options));

/** A batch's arrays by the input names a TorchScript module may take. */
function tokenizerArrays(batch: BatchEncoding): Record<TokenizerInput, BigInt64Array> {
  return { input_ids: batch.inputIds, attention_mask: batch.attentionMask, token_type_ids: batch.tokenTypeIds };
}
