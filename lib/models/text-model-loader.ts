/**
 * Loading a BERT-family checkpoint (folder or Hub id) into native encoders for
 * TextEncoderModel: one encoder that queries and items share, or two
 * independent ones (`towers: "separate"`), either copied from one checkpoint
 * or read from a two-tower folder that savePretrained wrote (towers.json:
 * the query tower at the root, the items tower in `items/`).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { checkDevice, type Device } from "../device";
import { describe } from "../dtypes";
import { CheckpointError, UnsupportedError } from "../errors";
import { configInteger, readCheckpointWeights, readConfig, scalarOptions } from "../hub/checkpoint";
import type { HubOptions } from "../hub/hub-settings";
import { resolvePretrained, TEXT_MODEL_FILES } from "../hub/resolve-pretrained";
import { Module } from "../module";
import { readJsonObject, TextTokenizer } from "../tokenization";
import { checkTokenizerFitsModel } from "./vocabulary";
import { resolveMicroBatching, type MicroBatching, type MicroBatchingSettings } from "./query-batcher";
import { resolveWeightDtype, type WeightDtype } from "./weight-dtype";

/** "shared": one encoder serves queries and items. "separate": each has its own (parameters, optimizer, checkpoint, Triton model). */
export type Towers = "shared" | "separate";

/** Options of `fromPretrained` (with `revision`, `cacheDir`, `token`, `onProgress` for a Hub id). */
export interface TextModelOptions extends HubOptions {
  /** Longest input in tokens (special tokens included); default: the tokenizer's model_max_length. */
  maxLength?: number;
  /** Where the model runs; default "cpu". */
  device?: Device;
  /**
   * Parameter dtype, converted once at load; default "float32" (parity).
   * float16/bfloat16 halve memory, mostly for CUDA. "bfloat16" on CPU needs a
   * CPU that multiplies bf16 in hardware (AMX or AVX512-BF16); elsewhere the
   * model loads as float32, with a one-line notice (README "bfloat16 on CPU").
   */
  dtype?: WeightDtype;
  /** Items per forward in forwardItems; default 32. */
  batchSize?: number;
  /**
   * "longest" (default): pad each batch to its longest text (faster).
   * "max_length": pad to maxLength, as the original did (fixed shapes for Triton).
   */
  padding?: "longest" | "max_length";
  /** Mixed precision for forwards (autocast on the model's device); default none (strict float32). */
  autocast?: "float16" | "bfloat16";
  /**
   * "shared" (default) or "separate": the items encoder an independent copy of
   * the checkpoint. A folder savePretrained wrote with separate towers
   * (towers.json) loads as "separate" by default.
   */
  towers?: Towers;
  /**
   * Concurrent forwardQuery calls share one forward (lib/models/query-batcher.ts):
   * `true` (default), `false` (one forward per call) or bounds
   * `{ maxBatch, maxTokens, maxWaitMs }`. Change it later with `setMicroBatching`.
   */
  microBatching?: MicroBatching;
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
  readonly query: Module;
  /** The query module itself when the towers are shared. */
  readonly items: Module;
  readonly tokenizer: TextTokenizer;
  readonly numLayers: number;
  readonly maxLength: number;
  readonly batchSize: number;
  readonly padding: "longest" | "max_length";
  readonly autocast: "float16" | "bfloat16" | undefined;
  readonly microBatching: MicroBatchingSettings;
  /** config.json's vocab_size: token ids must be below it. */
  readonly vocabSize: number;
  /** The query tower's (or the shared) checkpoint folder. */
  readonly dir: string;
  /** The items tower's checkpoint folder (dir when it was copied from the same checkpoint). */
  readonly itemsDir: string;
}

/** The file that marks a two-tower folder. */
export const TOWERS_FILE = "towers.json";

/** The items tower's folder of a two-tower folder, or undefined for a one-tower folder. */
async function itemsFolder(dir: string, where: string): Promise<string | undefined> {
  const file = path.join(dir, TOWERS_FILE);
  if (!fs.existsSync(file)) return undefined;
  const items = (await readJsonObject(file, TOWERS_FILE)).items;
  if (typeof items !== "string" || items === "" || path.isAbsolute(items) || items.split(/[\\/]/).includes(".."))
    throw new CheckpointError(`${where}: ${file}: "items" must name a subfolder but is ${JSON.stringify(items)}`);
  return path.join(dir, items);
}

interface Checks {
  readonly where: string;
  readonly spec: TextModelSpec;
  readonly dtype: WeightDtype;
  readonly device: Device;
}

/** One encoder from a checkpoint folder. The caller disposes it. */
async function loadEncoder(dir: string, checks: Checks, copies: 1 | 2): Promise<Module[]> {
  const { where, spec, dtype, device } = checks;
  const config = await readConfig(dir);
  const arch = ARCHITECTURES[String(config.model_type)];
  if (!arch) throw new UnsupportedError(`${where}: ${path.join(dir, "config.json")}: model_type ${JSON.stringify(config.model_type)} is not supported by ${spec.className}; supported: ${Object.keys(ARCHITECTURES).join(", ")}`);
  const weights = await readCheckpointWeights(dir, arch.prefixes);
  const modules: Module[] = [];
  try {
    if (spec.pooling === "pooler" && !weights.has("pooler.dense.weight"))
      throw new CheckpointError(
        `${where}: ${dir} has no pooler weights (pooler.dense.weight, pooler.dense.bias), and ${spec.className} returns Hugging Face's pooler_output; ` +
          "load it with TextToTextE5Model (mean pooling), or use a checkpoint saved with its pooler",
      );
    for (let i = 0; i < copies; i++) {
      const module = Module.create(arch.native, { ...scalarOptions(config), pooling: spec.pooling, add_pooling_layer: weights.has("pooler.dense.weight") });
      modules.push(module);
      await module.loadStateDict(weights);
      if (dtype !== "float32") module.to(dtype);
      if (device !== "cpu") module.to(device);
    }
  } catch (error) {
    for (const m of modules) m.dispose();
    throw error;
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  return modules;
}

/**
 * Loads a BERT-family checkpoint folder, or a Hub id through the Hugging Face
 * cache, into native encoders with `pooling`.
 * @throws CheckpointError (missing files, key or shape mismatch), UnsupportedError (model_type),
 *   HubError (an id the cache lacks offline, a refused download), RangeError for bad options.
 */
export async function loadTextModel(idOrDir: string, spec: TextModelSpec, options: TextModelOptions): Promise<LoadedTextModel> {
  const where = `${spec.className}.fromPretrained(${JSON.stringify(idOrDir)})`;
  if (typeof options !== "object" || options === null) throw new TypeError(`${where}: options must be an object but received ${describe(options)}`);
  const dir = await resolvePretrained(idOrDir, TEXT_MODEL_FILES, options, where);
  const device = checkDevice(options.device ?? "cpu", where);
  const batchSize = options.batchSize ?? 32;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`${where}: batchSize must be a positive integer but received ${String(batchSize)}`);
  const dtype = resolveWeightDtype(options.dtype, device, where);
  if (options.autocast !== undefined && options.autocast !== "float16" && options.autocast !== "bfloat16")
    throw new RangeError(`${where}: autocast must be "float16" or "bfloat16" but received ${describe(options.autocast)}`);
  const microBatching = resolveMicroBatching(options.microBatching, where);
  const padding = options.padding ?? "longest";
  if (padding !== "longest" && padding !== "max_length") throw new RangeError(`${where}: padding must be "longest" or "max_length" but received ${String(padding)}`);
  const separateDir = await itemsFolder(dir, where);
  const towers = options.towers ?? (separateDir === undefined ? "shared" : "separate");
  if (towers !== "shared" && towers !== "separate") throw new RangeError(`${where}: towers must be "shared" or "separate" but received ${describe(options.towers)}`);
  if (towers === "shared" && separateDir !== undefined)
    throw new RangeError(`${where}: the folder holds separate query and items towers (${TOWERS_FILE}); towers "shared" cannot merge them: load it with towers "separate" (the default), or load ${separateDir} alone`);

  const config = await readConfig(dir);
  const isXlmr = ARCHITECTURES[String(config.model_type)]?.native === "xlm-roberta";
  const numLayers = configInteger(config, "num_hidden_layers", dir);
  const tokenizer = await TextTokenizer.fromPretrained(dir);
  const vocabSize = configInteger(config, "vocab_size", dir);
  await checkTokenizerFitsModel(dir, vocabSize);
  const positions = configInteger(config, "max_position_embeddings", dir, 512) - (isXlmr ? configInteger(config, "pad_token_id", dir, 1) + 1 : 0);
  const maxLength = options.maxLength ?? Math.min(tokenizer.modelMaxLength, positions);
  if (!Number.isSafeInteger(maxLength) || maxLength < 2 || maxLength > positions)
    throw new RangeError(`${where}: maxLength must be an integer in [2, ${positions}] (the model's positions) but received ${String(maxLength)}`);

  const checks: Checks = { where, spec, dtype, device };
  const [query, copy] = await loadEncoder(dir, checks, towers === "separate" && separateDir === undefined ? 2 : 1);
  let items = copy ?? (query as Module);
  if (separateDir !== undefined) {
    try {
      [items] = (await loadEncoder(separateDir, checks, 1)) as [Module];
    } catch (error) {
      query?.dispose();
      throw error;
    }
  }
  const loaded = { query: query as Module, items, tokenizer, vocabSize, numLayers, maxLength, batchSize, padding, autocast: options.autocast, microBatching };
  return { ...loaded, dir: path.resolve(dir), itemsDir: path.resolve(separateDir ?? dir) };
}
