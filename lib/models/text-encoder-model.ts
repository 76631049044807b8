/**
 * The shared body of TextToTextBertModel, TextToTextE5Model and
 * SentenceTransformerModel: BERT-family encoders (native/models/bert.*) for
 * queries and items (one shared, or two separate towers), a tokenizer feeding
 * them; the families differ in pooling and text prefixes.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { checkDevice, type Device } from "../device";
import { describe } from "../dtypes";
import { writeFileAtomic } from "../hub/atomic";
import { JitTraceTritonModelStorageManager } from "../inference/triton/jit-trace-storage-manager";
import type { TritonModelStorageManagerClass } from "../inference/triton/storage-manager";
import { Module, type ParameterInfo } from "../module";
import { Tensor } from "../tensor";
import { TextTokenizer, type BatchEncoding } from "../tokenization";
import { stackEncodings } from "../tokenization/padding";
import { checkTokenIds } from "./vocabulary";
import { fixTower, unfixTower } from "./freeze";
import { useModules } from "./ownership";
import { forwardInBatches } from "./forward-batches";
import { QueryBatcher } from "./query-batcher";
import { QueryBatchingModel } from "./query-batching-model";
import { TOWERS_FILE, type LoadedTextModel, type TextModelSpec } from "./text-model-loader";

export { loadTextModel, TOWERS_FILE, type LoadedTextModel, type TextModelOptions, type TextModelSpec, type Towers } from "./text-model-loader";

/** Tokenizer and config files a checkpoint folder may hold, copied by savePretrained. */
const CHECKPOINT_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "sentencepiece.bpe.model"];

/** BERT-family text embeddings behind EmbeddingsModelInterface; query and items share one encoder, or have one each. */
export abstract class TextEncoderModel extends QueryBatchingModel {
  readonly #query: Module;
  /** #query itself when the towers are shared. */
  readonly #items: Module;
  readonly #itemsDir: string;
  readonly #tokenizer: TextTokenizer;
  readonly #vocabSize: number;
  readonly #spec: TextModelSpec;
  readonly #numLayers: number;
  /** The empty-query warning is given once per model. */
  #warnedEmptyQuery = false;
  /** Longest input in tokens. */
  readonly maxLength: number;
  /** Items per forward in forwardItems. */
  readonly batchSize: number;
  readonly padding: "longest" | "max_length";
  /** Mixed precision of forwards, or undefined for strict float32. */
  readonly autocast: "float16" | "bfloat16" | undefined;
  /** The checkpoint folder this was loaded from (the query tower's, when separate). */
  readonly dir: string;
  /** Prepended to queries (E5: "query: "). */
  queryPrefix: string;
  /** Prepended to items (E5: "passage: "). */
  itemPrefix: string;

  protected constructor(loaded: LoadedTextModel, spec: TextModelSpec, prefixes: { queryPrefix?: string; itemPrefix?: string } = {}) {
    const { tokenizer } = loaded;
    super(
      new QueryBatcher<BatchEncoding>(
        {
          modules: [loaded.query],
          expect: () => loaded.query.expectForward(),
          prepare: (query) => this.#tokenize([query], this.queryPrefix),
          length: (encoding) => encoding.length,
          // BERT position ids count from the first column: padding before the tokens would move them.
          padInvariant: tokenizer.paddingSide === "right",
          run: (encodings) => this.#forwardEncoding(stackEncodings(encodings, tokenizer.padTokenId, tokenizer.paddingSide), "query", false),
        },
        loaded.microBatching,
        `${spec.className}(${loaded.dir})`,
      ),
    );
    this.#query = loaded.query;
    this.#items = loaded.items;
    this.#itemsDir = loaded.itemsDir;
    this.#tokenizer = loaded.tokenizer;
    this.#vocabSize = loaded.vocabSize;
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
    return this.#query.device;
  }

  get sameQueryAndItems(): boolean {
    return this.#query === this.#items;
  }

  /** "shared" (one encoder) or "separate" (query and items towers of their own). */
  get towers(): "shared" | "separate" {
    return this.sameQueryAndItems ? "shared" : "separate";
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
    return this.#query;
  }

  getItemsModel(): Module {
    return this.#items;
  }

  getQueryModelParams(): Iterable<ParameterInfo> {
    return this.#query.namedParameters();
  }

  getItemsModelParams(): Iterable<ParameterInfo> {
    return this.#items.namedParameters();
  }

  /**
   * Shared towers are exported once, as the "shared" role (queries sent at
   * priority 1); separate ones as "<name>_query" and "<name>_items".
   */
  getQueryModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole(this.sameQueryAndItems ? "shared" : "query");
  }

  getItemsModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole(this.sameQueryAndItems ? "shared" : "items");
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
    checkTokenIds(encoding.inputIds, encoding.length, this.#vocabSize, `${this.constructor.name} get*ModelInputs (${this.dir})`);
    return Promise.resolve(this.#tensors(encoding, target));
  }

  /** See lib/models/freeze.ts: the query tower's (or the shared encoder's) embeddings and layers 0..n-1. */
  fixQueryModel(numFixedLayers: number): void {
    fixTower(this.#query, numFixedLayers, "fixQueryModel");
  }

  unfixQueryModel(): void {
    unfixTower(this.#query);
  }

  /** The items tower's, which is the query tower when shared. */
  fixItemModel(numFixedLayers: number): void {
    fixTower(this.#items, numFixedLayers, "fixItemModel");
  }

  unfixItemModel(): void {
    unfixTower(this.#items);
  }

  async forwardQuery(query: string): Promise<Tensor> {
    if (typeof query !== "string") throw new TypeError(`forwardQuery: expected a string but received ${describe(query)}`);
    if (query.trim() === "" && !this.#warnedEmptyQuery) {
      this.#warnedEmptyQuery = true;
      process.emitWarning("forwardQuery: the query is empty; its embedding carries no information (warned once per model)", { code: "EMBEDDINGS_TORCH_EMPTY_QUERY" });
    }
    // Concurrent calls share forwards; a running Trainer.fit owns the towers and they wait for it (query-batcher.ts, ownership.ts).
    return this.submitQuery(query);
  }

  async forwardItems(items: readonly unknown[]): Promise<Tensor> {
    if (!Array.isArray(items)) throw new TypeError(`forwardItems: expected an array of strings but received ${describe(items)}`);
    if (items.length === 0) throw new RangeError("forwardItems: expected at least one item but received an empty array");
    items.forEach((item, i) => {
      if (typeof item !== "string") throw new TypeError(`forwardItems: item ${i} must be a string but received ${describe(item)}`);
    });
    return this.encode(items as readonly string[], { kind: "items" });  // encode waits for a running fit
  }

  /**
   * Embeds texts (prefix applied by `kind`) in batches of `batchSize`,
   * concatenated natively: [n, dim]. With `grad`, records autograd (training).
   */
  async encode(texts: readonly string[], options: { kind: "query" | "items"; grad?: boolean }): Promise<Tensor> {
    // A running Trainer.fit owns the towers: callers other than the fit wait for it (lib/models/ownership.ts).
    return useModules([options.kind === "query" ? this.#query : this.#items], () => this.#encodeBatches(texts, options));
  }

  async #encodeBatches(texts: readonly string[], options: { kind: "query" | "items"; grad?: boolean }): Promise<Tensor> {
    const prefix = options.kind === "query" ? this.queryPrefix : this.itemPrefix;
    return forwardInBatches(texts.length, this.batchSize, {
      prepare: (start, end) => this.#tokenize(texts.slice(start, end), prefix),
      forward: (encoding) => this.#forwardEncoding(encoding, options.kind, options.grad ?? false),
    });
  }

  /** Token ids checked against the vocabulary; a large batch is tokenized on a worker thread (lib/tokenization/tokenizer-pool.ts). */
  async #tokenize(texts: readonly string[], prefix: string): Promise<BatchEncoding> {
    const encoding = await this.#tokenizer.encodeBatchAsync(texts, { maxLength: this.maxLength, padding: this.padding, prefix });
    checkTokenIds(encoding.inputIds, encoding.length, this.#vocabSize, `${this.constructor.name} forward (${this.dir})`);
    return encoding;
  }

  /** One forward of a tower and the family's head: [batchSize, dim]. */
  async #forwardEncoding(encoding: BatchEncoding, kind: "query" | "items", grad: boolean): Promise<Tensor> {
    const shape = [encoding.batchSize, encoding.length];
    // Host arrays: copied onto the tower's device as the forward is queued (no Tensors to make and dispose).
    const inputs = { input_ids: { data: encoding.inputIds, shape }, attention_mask: { data: encoding.attentionMask, shape } };
    const forward = this.autocast ? { grad, autocast: this.autocast } : { grad };
    const module = kind === "query" ? this.#query : this.#items;
    return this.finishBatch(await module.forwardTensor(inputs, forward), encoding, kind);
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
   * model.safetensors from the current weights (atomically). Separate towers:
   * the query tower at `dir`, the items tower (the same files) in
   * `dir/items`, and towers.json naming it, so fromPretrained(dir) loads both.
   */
  async savePretrained(dir: string): Promise<void> {
    if (typeof dir !== "string") throw new TypeError(`savePretrained: expected a folder path but received ${describe(dir)}`);
    await saveTower(this.#query, this.dir, this.dir, dir);
    const marker = path.join(dir, TOWERS_FILE);
    if (this.sameQueryAndItems) {
      await fs.promises.rm(marker, { force: true });  // a folder of separate towers saved over: now one encoder
      return;
    }
    await saveTower(this.#items, this.#itemsDir, this.dir, path.join(dir, "items"));
    await writeFileAtomic(marker, `${JSON.stringify({ query: "", items: "items" }, null, 2)}\n`);
  }

  #tensors(encoding: BatchEncoding, device: Device): Record<string, Tensor> {
    const shape = [encoding.batchSize, encoding.length];
    return {
      input_ids: Tensor.from(encoding.inputIds, shape, { device }),
      attention_mask: Tensor.from(encoding.attentionMask, shape, { device }),
    };
  }

  /**
   * Frees the towers (idempotent). Queries waiting for a batch are rejected
   * with a DisposedError, later forwardQuery calls too.
   * @throws BusyError while a forward runs (as Module.dispose); call it again once that settles.
   */
  dispose(): void {
    this.closeQueries();
    this.#query.dispose();
    if (this.#items !== this.#query) this.#items.dispose();
  }
}

/** One tower's folder: its config, the tokenizer files (from `tokenizerDir` where its own folder lacks them), its weights. */
async function saveTower(module: Module, sourceDir: string, tokenizerDir: string, dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  for (const file of CHECKPOINT_FILES) {
    const source = [path.join(sourceDir, file), path.join(tokenizerDir, file)].find((f) => fs.existsSync(f));
    if (source !== undefined && path.resolve(source) !== path.resolve(dir, file)) await fs.promises.copyFile(source, path.join(dir, file));
  }
  await module.saveStateDict(path.join(dir, "model.safetensors"), { format: "pt" });
}
