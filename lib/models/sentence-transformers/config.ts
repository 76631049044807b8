/**
 * The files of a sentence-transformers folder, parsed: modules.json (the
 * pipeline), sentence_bert_config.json (max_seq_length),
 * config_sentence_transformers.json (prompts), each Pooling's and Dense's
 * config.json. Field names are sentence-transformers'; both its current
 * `pooling_mode` and its older `pooling_mode_*_tokens` flags are read.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError, UnsupportedError } from "../../errors";
import { isJsonObject, readJsonObject, type JsonObject } from "../../tokenization";

/** sentence-transformers' pooling modes, in the order it concatenates several. */
export const POOLING_MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];

/** The older boolean flags, by mode. */
const LEGACY_FLAGS: Readonly<Record<string, PoolingMode>> = {
  pooling_mode_cls_token: "cls",
  pooling_mode_max_tokens: "max",
  pooling_mode_mean_tokens: "mean",
  pooling_mode_mean_sqrt_len_tokens: "mean_sqrt_len_tokens",
  pooling_mode_weightedmean_tokens: "weightedmean",
  pooling_mode_lasttoken: "lasttoken",
};

export interface PoolingStage {
  readonly kind: "pooling";
  readonly path: string;
  /** Concatenated in this order. */
  readonly modes: readonly PoolingMode[];
  /** false: the prompt's tokens (and the leading special token) are left out of the pooling. */
  readonly includePrompt: boolean;
  /** The folder's config.json as read, written back by savePretrained. */
  readonly config: JsonObject;
}

/** Activation functions a Dense may name (by sentence-transformers' full class names). */
export const DENSE_ACTIVATIONS = {
  "torch.nn.modules.activation.Tanh": "tanh",
  "torch.nn.modules.linear.Identity": "identity",
  "torch.nn.modules.activation.ReLU": "relu",
  "torch.nn.modules.activation.Sigmoid": "sigmoid",
} as const;
export type DenseActivation = (typeof DENSE_ACTIVATIONS)[keyof typeof DENSE_ACTIVATIONS];

export interface DenseStage {
  readonly kind: "dense";
  readonly path: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
  readonly activation: DenseActivation;
  readonly config: JsonObject;
}

export interface NormalizeStage {
  readonly kind: "normalize";
  readonly path: string;
}

export type HeadStage = PoolingStage | DenseStage | NormalizeStage;

export interface SentenceTransformerConfig {
  /** Folder of the Transformer module ("" = the root). */
  readonly transformerPath: string;
  /** What follows the Transformer, in order. */
  readonly head: readonly HeadStage[];
  /** sentence_bert_config.json's max_seq_length, when given. */
  readonly maxSeqLength: number | undefined;
  /** config_sentence_transformers.json's prompts by name. */
  readonly prompts: Readonly<Record<string, string>>;
  readonly defaultPromptName: string | undefined;
  /** config_sentence_transformers.json as read (kept by savePretrained). */
  readonly settings: JsonObject;
}

/** The module's class name: the last part of "sentence_transformers.models.Pooling" and its newer spellings. */
function moduleClass(type: string): string {
  return type.split(".").at(-1) ?? type;
}

async function optionalJson(file: string): Promise<JsonObject | undefined> {
  return fs.existsSync(file) ? readJsonObject(file, path.basename(file)) : undefined;
}

function integerField(config: JsonObject, key: string, file: string): number {
  const value = config[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw new CheckpointError(`${file}: ${key} must be a positive integer but is ${JSON.stringify(value)}`);
  return value;
}

function poolingModes(config: JsonObject, file: string): PoolingMode[] {
  const mode = config.pooling_mode;
  if (mode !== undefined) {
    const modes = Array.isArray(mode) ? mode : [mode];
    return modes.map((m) => {
      if (typeof m !== "string" || !(POOLING_MODES as readonly string[]).includes(m))
        throw new UnsupportedError(`${file}: pooling_mode ${JSON.stringify(m)} is not one of ${POOLING_MODES.join(", ")}`);
      return m as PoolingMode;
    });
  }
  const flagged = Object.entries(LEGACY_FLAGS).filter(([flag]) => config[flag] === true).map(([, m]) => m);
  return flagged.length > 0 ? POOLING_MODES.filter((m) => flagged.includes(m)) : ["mean"];  // sentence-transformers' default
}

async function readStage(root: string, type: string, modulePath: string): Promise<HeadStage | "transformer"> {
  const folder = path.join(root, modulePath);
  const kind = moduleClass(type);
  if (kind === "Transformer") {
    const config = await optionalJson(path.join(folder, "config.json"));
    if (config?.model_type === "clip") throw new UnsupportedError(`${path.join(root, "modules.json")}: a CLIP sentence-transformers model: load it with TextToImageClipModel.fromPretrained (text queries, image items), which reads this folder`);
    return "transformer";
  }
  if (kind === "Normalize") return { kind: "normalize", path: modulePath };
  const file = path.join(folder, "config.json");
  if (kind === "Pooling") {
    const config = (await optionalJson(file)) ?? {};
    return { kind: "pooling", path: modulePath, modes: poolingModes(config, file), includePrompt: config.include_prompt !== false, config };
  }
  if (kind === "Dense") {
    const config = await optionalJson(file);
    if (config === undefined) throw new CheckpointError(`${file}: missing (a Dense module needs in_features and out_features)`);
    const name = config.activation_function ?? "torch.nn.modules.activation.Tanh";
    const activation = DENSE_ACTIVATIONS[String(name) as keyof typeof DENSE_ACTIVATIONS];
    if (activation === undefined) throw new UnsupportedError(`${file}: activation_function ${JSON.stringify(name)} is not supported; supported: ${Object.keys(DENSE_ACTIVATIONS).join(", ")}`);
    if (config.use_residual === true) throw new UnsupportedError(`${file}: use_residual is not supported`);
    return { kind: "dense", path: modulePath, inFeatures: integerField(config, "in_features", file), outFeatures: integerField(config, "out_features", file), bias: config.bias !== false, activation, config };
  }
  if (kind === "CLIPModel") throw new UnsupportedError(`${path.join(root, "modules.json")}: a CLIP sentence-transformers model: load it with TextToImageClipModel.fromPretrained (text queries, image items), which reads this folder`);
  throw new UnsupportedError(`${path.join(root, "modules.json")}: module type ${type} is not supported; supported: Transformer (BERT, XLM-RoBERTa), Pooling, Dense, Normalize`);
}

/** Reads the pipeline of the sentence-transformers folder `root`. @throws CheckpointError, UnsupportedError naming the file. */
export async function readSentenceTransformerConfig(root: string): Promise<SentenceTransformerConfig> {
  const modulesFile = path.join(root, "modules.json");
  if (!fs.existsSync(modulesFile)) throw new CheckpointError(`${root}: no modules.json (expected a sentence-transformers folder)`);
  const raw: unknown = JSON.parse(await fs.promises.readFile(modulesFile, "utf8"));
  if (!Array.isArray(raw) || raw.length === 0) throw new CheckpointError(`${modulesFile}: expected a non-empty array of modules`);
  let transformerPath: string | undefined;
  const head: HeadStage[] = [];
  for (const [i, entry] of raw.entries()) {
    if (!isJsonObject(entry) || typeof entry.type !== "string" || typeof entry.path !== "string")
      throw new CheckpointError(`${modulesFile}: module ${i} must have a string "type" and "path"`);
    const stage = await readStage(root, entry.type, entry.path);
    if (stage === "transformer") {
      if (i !== 0) throw new UnsupportedError(`${modulesFile}: the Transformer must be the first module (it is module ${i})`);
      transformerPath = entry.path;
    } else head.push(stage);
  }
  if (transformerPath === undefined) throw new UnsupportedError(`${modulesFile}: no Transformer module (the first module must be one)`);
  const bertConfig = await optionalJson(path.join(root, transformerPath, "sentence_bert_config.json"));
  const maxSeqLength = bertConfig?.max_seq_length;
  const settings = (await optionalJson(path.join(root, "config_sentence_transformers.json"))) ?? {};
  const prompts: Record<string, string> = {};
  if (isJsonObject(settings.prompts)) for (const [name, prompt] of Object.entries(settings.prompts)) if (typeof prompt === "string") prompts[name] = prompt;
  return {
    transformerPath,
    head,
    maxSeqLength: typeof maxSeqLength === "number" ? maxSeqLength : undefined,
    prompts,
    defaultPromptName: typeof settings.default_prompt_name === "string" ? settings.default_prompt_name : undefined,
    settings,
  };
}
