/**
 * TextToImageClipModel: a CLIP checkpoint as a two-tower model. Queries are
 * texts through the text tower ("clip-text"), items are images through the
 * vision tower ("clip-vision"); both end in the shared projection space.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { checkDevice, type Device } from "../device";
import { describe } from "../dtypes";
import { CheckpointError, DisposedError, UnsupportedError } from "../errors";
import type { HubOptions } from "../hub/hub-settings";
import { getClipModelFiles, resolvePretrained, type FilePlan } from "../hub/resolve-pretrained";
import { entryToTensor, readSafetensors } from "../hub/safetensors";
import { ImageProcessor, type ImageInput } from "../images";
import { JitTraceTritonModelStorageManager } from "../inference/triton/jit-trace-storage-manager";
import type { TritonModelStorageManagerClass } from "../inference/triton/storage-manager";
import { registerModelKind } from "./kinds";
import { Module, type ParameterInfo } from "../module";
import { PACKAGE_ROOT } from "../native";
import { Tensor } from "../tensor";
import { TextTokenizer, type BatchEncoding } from "../tokenization";
import { readClipConfig, type ClipConfig } from "./clip/config";
import { checkTokenIds, checkTokenizerFitsModel } from "./vocabulary";
import { clipModuleFolder, localClipModuleFolder } from "./sentence-transformers/clip-module";
import { fixTower, unfixTower } from "./freeze";
import { useModules } from "./ownership";
import { QueryBatcher, resolveMicroBatching, type MicroBatching, type MicroBatchingSettings } from "./query-batcher";
import { QueryBatchingModel } from "./query-batching-model";
import { stackEncodings } from "../tokenization/padding";
import { resolveWeightDtype, type WeightDtype } from "./weight-dtype";
import { forwardInBatches } from "./forward-batches";

/** Options of fromPretrained (with `revision`, `cacheDir`, `token`, `onProgress` for a Hub id). */
export interface ClipModelOptions extends HubOptions {
  /** Where both towers run; default "cpu". */
  device?: Device;
  /** Images per vision forward in forwardItems; default 32. */
  batchSize?: number;
  /** Concurrent forwardQuery calls share one forward: as TextModelOptions.microBatching (default on). */
  microBatching?: MicroBatching;
  /**
   * Parameter dtype of both towers, converted once at load; default "float32"
   * (parity). As TextModelOptions.dtype: "bfloat16" on a CPU without bf16
   * matrix instructions loads float32, with a one-line notice (README
   * "bfloat16 on CPU"). Embeddings come back in this dtype.
   */
  dtype?: WeightDtype;
}

/** A CLIPModel folder, or a sentence-transformers folder around one (its module's folder). */
const CLIP_FILES: FilePlan = async (get) => {
  const modulesFile = await get("modules.json", { optional: true });
  if (modulesFile === null) return getClipModelFiles(get);
  const modules: unknown = JSON.parse(await fs.promises.readFile(modulesFile, "utf8"));
  const first = Array.isArray(modules) ? (modules[0] as { path?: unknown } | undefined) : undefined;
  const folder = typeof first?.path === "string" ? first.path : "";
  const config = await get(folder === "" ? "config.json" : `${folder}/config.json`);
  const modelType = (JSON.parse(await fs.promises.readFile(config as string, "utf8")) as { model_type?: unknown }).model_type;
  const clipFolder = clipModuleFolder(modules, () => modelType, modulesFile);
  if (clipFolder === undefined) throw new UnsupportedError(`${modulesFile}: a sentence-transformers folder whose first module is not CLIP; load it with SentenceTransformerModel`);
  await getClipModelFiles(get, clipFolder);
};

/** Traced into the query model's example inputs (any text works: the example is padded to the 77 positions). */
const EXAMPLE_QUERY = "a photo of red running shoes";
/** A small PNG shipped with the package: the items model's example input. */
const EXAMPLE_IMAGE = path.join(PACKAGE_ROOT, "assets", "clip-example.png");

/**
 * A Hugging Face CLIPModel folder (config.json, model.safetensors,
 * tokenizer.json, tokenizer_config.json, preprocessor_config.json).
 */
export class TextToImageClipModel extends QueryBatchingModel {
  readonly #text: Module;
  readonly #vision: Module;
  readonly #tokenizer: TextTokenizer;
  readonly #images: ImageProcessor;
  readonly #config: ClipConfig;
  readonly #batchSize: number;
  #disposed = false;

  private constructor(text: Module, vision: Module, tokenizer: TextTokenizer, images: ImageProcessor, config: ClipConfig, batchSize: number, microBatching: MicroBatchingSettings, dir: string) {
    super(
      new QueryBatcher<BatchEncoding>(
        {
          modules: [text],
          expect: () => text.expectForward(),
          prepare: (query) => this.#prepareQuery(query),
          length: (encoding) => encoding.length,
          // Causal attention and the end-of-text pooling never see padding after a text's end-of-text token.
          padInvariant: tokenizer.paddingSide === "right",
          run: (encodings) => {
            // Ids checked by #prepareQuery; a host array, copied as the forward is queued.
            const batch = stackEncodings(encodings, tokenizer.padTokenId, tokenizer.paddingSide);
            return text.forwardTensor([{ data: batch.inputIds, shape: [batch.batchSize, batch.length] }], { grad: false });
          },
        },
        microBatching,
        `TextToImageClipModel(${dir})`,
      ),
    );
    this.#text = text;
    this.#vision = vision;
    this.#tokenizer = tokenizer;
    this.#images = images;
    this.#config = config;
    this.#batchSize = batchSize;
  }

  /**
   * Loads both towers from `dir/model.safetensors` (each takes the keys it
   * owns), the tokenizer and the image processor; the towers are in eval mode.
   * A Hub id ("org/name") loads from the Hugging Face cache, downloading what it lacks;
   * a sentence-transformers CLIP folder (modules.json: CLIPModel) loads from its module's folder.
   * @throws TypeError / RangeError for bad arguments; CheckpointError naming the
   *   file for a missing or invalid file or keys that do not fit the config;
   *   HubError for an id the cache lacks offline or a refused download.
   */
  static async fromPretrained(idOrDir: string, options: ClipModelOptions = {}): Promise<TextToImageClipModel> {
    const context = `TextToImageClipModel.fromPretrained(${JSON.stringify(idOrDir)})`;
    if (typeof idOrDir !== "string") throw new TypeError(`TextToImageClipModel.fromPretrained: dir must be a path string but received ${describe(idOrDir)}`);
    const root = await resolvePretrained(idOrDir, CLIP_FILES, options, context);
    const dir = path.join(root, localClipModuleFolder(root) ?? "");
    const device = checkDevice(options.device ?? "cpu", context);
    const batchSize = options.batchSize ?? 32;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`${context}: batchSize must be a positive integer but received ${String(batchSize)}`);
    const microBatching = resolveMicroBatching(options.microBatching, context);
    const dtype = resolveWeightDtype(options.dtype, device, context);
    const config = await readClipConfig(dir, context); // first: a folder of another model fails on model_type
    const [tokenizer, images] = await Promise.all([TextTokenizer.fromPretrained(dir), ImageProcessor.fromPretrained(dir)]);
    await checkTokenizerFitsModel(dir, config.vocabSize);
    const text = Module.create("clip-text", config.text);
    const vision = Module.create("clip-vision", config.vision);
    try {
      await loadTowers(path.join(dir, "model.safetensors"), context, [
        [text, ["text_model.", "text_projection."]],
        [vision, ["vision_model.", "visual_projection."]],
      ]);
      if (dtype !== "float32") {
        text.to(dtype);
        vision.to(dtype);
      }
      text.to(device);
      vision.to(device);
    } catch (error) {
      text.dispose();
      vision.dispose();
      throw error;
    }
    return new TextToImageClipModel(text, vision, tokenizer, images, config, batchSize, microBatching, dir);
  }

  get device(): Device {
    this.#check("device");
    return this.#text.device;
  }

  get sameQueryAndItems(): boolean {
    return false;
  }

  /** The towers take positional inputs: [input_ids] and [pixel_values]. */
  get isNamedInputs(): boolean {
    return false;
  }

  getQueryModelParams(): ParameterInfo[] {
    this.#check("getQueryModelParams");
    return this.#text.namedParameters();
  }

  getItemsModelParams(): ParameterInfo[] {
    this.#check("getItemsModelParams");
    return this.#vision.namedParameters();
  }

  /** `{ input_ids }`: an example query, int64 [1, 77]. */
  async getQueryModelInputs(device?: Device): Promise<Record<string, Tensor>> {
    const target = checkDevice(device ?? this.device, "getQueryModelInputs");
    return { input_ids: this.#encode(EXAMPLE_QUERY, target) };
  }

  /** `{ pixel_values }`: the shipped example image, float32 [1, 3, S, S]. */
  async getItemsModelInputs(device?: Device): Promise<Record<string, Tensor>> {
    const target = checkDevice(device ?? this.device, "getItemsModelInputs");
    return { pixel_values: await this.#images.preprocess([EXAMPLE_IMAGE], { device: target }) };
  }

  /** The text tower, exported as the "query" role (higher Triton priority). */
  getQueryModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole("query");
  }

  /** The vision tower, exported as the "items" role. */
  getItemsModelInferenceManagerClass(): TritonModelStorageManagerClass {
    return JitTraceTritonModelStorageManager.forRole("items");
  }

  getQueryModel(): Module {
    this.#check("getQueryModel");
    return this.#text;
  }

  getItemsModel(): Module {
    this.#check("getItemsModel");
    return this.#vision;
  }

  /** Freezes the token and position embeddings and text layers 0..n-1 (lib/models/freeze.ts). */
  fixQueryModel(numFixedLayers: number): void {
    this.#check("fixQueryModel");
    fixTower(this.#text, numFixedLayers, "fixQueryModel");
  }

  unfixQueryModel(): void {
    this.#check("unfixQueryModel");
    unfixTower(this.#text);
  }

  /** Freezes the patch, class and position embeddings and vision layers 0..n-1 (lib/models/freeze.ts). */
  fixItemModel(numFixedLayers: number): void {
    this.#check("fixItemModel");
    fixTower(this.#vision, numFixedLayers, "fixItemModel");
  }

  unfixItemModel(): void {
    this.#check("unfixItemModel");
    unfixTower(this.#vision);
  }

  /** The text's embedding: float32 [1, projection_dim] on the model's device. */
  async forwardQuery(query: string): Promise<Tensor> {
    if (typeof query !== "string") throw new TypeError(`forwardQuery: query must be a string but received ${describe(query)}`);
    this.#check("forwardQuery");
    return this.submitQuery(query);  // concurrent calls share forwards; they wait for a running fit (query-batcher.ts)
  }

  /**
   * The images' embeddings: float32 [n, projection_dim], computed in batches of `batchSize`.
   * @throws RangeError for an empty list; TypeError / ImageError naming the index (and path) of a bad item.
   */
  async forwardItems(items: readonly ImageInput[]): Promise<Tensor> {
    if (!Array.isArray(items)) throw new TypeError(`forwardItems: items must be an array of image paths or Buffers but received ${describe(items)}`);
    if (items.length === 0) throw new RangeError("forwardItems: items is empty; pass at least one image");
    return useModules([this.#vision], () => this.#encodeImages(items, false, "forwardItems"));
  }

  /**
   * Text embeddings [n, projection_dim] through the text tower (the Trainer's
   * queries); with `grad`, the tensor carries the autograd graph.
   */
  async encodeQueries(texts: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    this.#check("encodeQueries");
    return useModules([this.#text], () => this.#encodeTexts(texts, options.grad));  // waits for a running fit (ownership.ts)
  }

  async #encodeTexts(texts: readonly string[], grad: boolean): Promise<Tensor> {
    const device = this.device;
    return forwardInBatches(texts.length, this.#batchSize, {
      prepare: (start, end) => this.#encodeAsync(texts.slice(start, end), device),
      forward: async (ids) => {
        try {
          return await this.#text.forwardTensor([ids], { grad });
        } finally {
          ids.dispose();
        }
      },
      discard: (ids) => ids.dispose(),
    });
  }

  /**
   * Image embeddings [n, projection_dim] through the vision tower (the
   * Trainer's items: image paths, or Buffers); with `grad`, for training.
   */
  async encodeItems(items: readonly ImageInput[], options: { grad: boolean }): Promise<Tensor> {
    this.#check("encodeItems");
    return useModules([this.#vision], () => this.#encodeImages(items, options.grad, "encodeItems"));  // waits for a running fit
  }

  async #encodeImages(items: readonly ImageInput[], grad: boolean, method: string): Promise<Tensor> {
    const device = this.device;
    return forwardInBatches(items.length, this.#batchSize, {
      prepare: (start, end) => this.#images.pixelValues(items.slice(start, end), method, start),
      forward: async ({ data, shape }) => {
        using pixels = Tensor.from(data, shape, { device });
        return await this.#vision.forwardTensor([pixels], { grad });
      },
    });
  }

  /**
   * Frees both towers (idempotent); queries waiting for a batch are rejected with a DisposedError.
   * @throws BusyError while a forward runs (as Module.dispose); call it again once that settles.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.closeQueries();
    this.#text.dispose();
    this.#vision.dispose();
    this.#disposed = true;
  }

  /** input_ids [n, 77] int64, padded with the pad token to every position as the original CLIP (the traced example). */
  #encode(texts: string | readonly string[], device: Device): Tensor {
    return this.#ids(this.#tokenizer.encodeBatch(typeof texts === "string" ? [texts] : texts, this.#tokenizerOptions("max_length")), device);
  }

  /** input_ids [n, longest] for a forward, a large batch tokenized off the JS thread (lib/tokenization/tokenizer-pool.ts). */
  async #encodeAsync(texts: readonly string[], device: Device): Promise<Tensor> {
    return this.#ids(await this.#tokenizer.encodeBatchAsync(texts, this.#tokenizerOptions("longest")), device);
  }

  /**
   * Forwards pad to the batch's longest text, not to the 77 positions: the
   * text tower's attention is causal and it pools at the end-of-text token,
   * so what follows that token never changes a text's embedding (equal to
   * the 77-padded forward within float32 rounding), and a 16-token query
   * runs 16 positions instead of 77.
   */
  #tokenizerOptions(padding: "longest" | "max_length"): { maxLength: number; padding: "longest" | "max_length" } {
    return { maxLength: Math.min(this.#config.maxPositionEmbeddings, this.#tokenizer.modelMaxLength), padding };
  }

  #ids(batch: BatchEncoding, device: Device): Tensor {
    checkTokenIds(batch.inputIds, batch.length, this.#config.vocabSize, "TextToImageClipModel forward");
    return Tensor.from(batch.inputIds, [batch.batchSize, batch.length], { device });
  }

  /** One query's ids checked against the vocabulary (a large text tokenized off the JS thread): what micro-batching queues. */
  async #prepareQuery(text: string): Promise<BatchEncoding> {
    const batch = await this.#tokenizer.encodeBatchAsync([text], this.#tokenizerOptions("longest"));
    checkTokenIds(batch.inputIds, batch.length, this.#config.vocabSize, "TextToImageClipModel forward");
    return batch;
  }

  #check(method: string): void {
    if (this.#disposed) throw new DisposedError(`TextToImageClipModel.${method}: the model was disposed`);
  }
}

/**
 * Copies each module's share of a CLIPModel checkpoint into it, reading the
 * file once. Keys a module owns (by prefix) must match its parameters
 * exactly: a key under its prefix that it lacks means the config disagrees
 * with the weights.
 */
async function loadTowers(file: string, context: string, towers: readonly (readonly [Module, readonly string[]])[]): Promise<void> {
  const checkpoint = await readSafetensors(file);
  for (const [module, prefixes] of towers) {
    const tensors = new Map<string, Tensor>();
    for (const [key, entry] of checkpoint.tensors) if (prefixes.some((p) => key.startsWith(p))) tensors.set(key, entryToTensor(entry));
    try {
      const { missing, unexpected } = await module.loadStateDict(tensors, { strict: false });
      if (missing.length > 0 || unexpected.length > 0)
        throw new CheckpointError(
          `${context}: ${file}: the ${module.kind} tower's keys do not match config.json (${[
            missing.length ? `missing ${missing.join(", ")}` : "",
            unexpected.length ? `unexpected ${unexpected.join(", ")}` : "",
          ].filter(Boolean).join("; ")})`,
        );
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
}

registerModelKind("clip", (dir, options) =>
  TextToImageClipModel.fromPretrained(dir, {
    ...(options.device === undefined ? {} : { device: options.device }),
    ...(options.revision === undefined ? {} : { revision: options.revision }),
  }),
);
