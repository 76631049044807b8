/**
 * config.json of a Hugging Face CLIPModel checkpoint, split into the options
 * of the two native towers ("clip-text", "clip-vision").
 */
import * as path from "node:path";

import { CheckpointError } from "../../errors";
import { readConfig } from "../../hub/checkpoint";

/** config.json fields handed to Module.create (numbers, strings, booleans only). */
export type TowerOptions = Readonly<Record<string, number | string | boolean>>;

export interface ClipConfig {
  /** text_config fields plus the top-level projection_dim. */
  readonly text: TowerOptions;
  /** vision_config fields plus the top-level projection_dim. */
  readonly vision: TowerOptions;
  readonly projectionDim: number;
  readonly textLayers: number;
  readonly visionLayers: number;
  /** Text positions: the length queries are padded to (77 for every released CLIP). */
  readonly maxPositionEmbeddings: number;
  /** text_config.vocab_size: token ids must be below it. */
  readonly vocabSize: number;
}

type Json = { readonly [key: string]: unknown };
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The scalar fields of a sub-config; nested objects and lists are not tower options. */
function scalars(json: Json): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const [key, value] of Object.entries(json))
    if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") out[key] = value;
  return out;
}

/**
 * Checks a parsed config.json. Missing sub-configs take transformers' defaults
 * (ViT-B/32), as CLIPConfig does.
 * @throws CheckpointError naming `file` and the field.
 */
export function parseClipConfig(json: Json, file: string): ClipConfig {
  const modelType = json["model_type"];
  if (modelType !== undefined && modelType !== "clip")
    throw new CheckpointError(`${file}: model_type is ${JSON.stringify(modelType)}, expected "clip" (a CLIPModel checkpoint)`);
  const sub = (key: string): Json => {
    const value = json[key] ?? {};
    if (!isObject(value)) throw new CheckpointError(`${file}: ${key} must be an object, got ${JSON.stringify(value)}`);
    return value;
  };
  const count = (config: Json, key: string, where: string, fallback: number): number => {
    const value = config[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0)
      throw new CheckpointError(`${file}: ${where}.${key} must be a positive integer, got ${JSON.stringify(value)}`);
    return value as number;
  };
  const projectionDim = count(json, "projection_dim", "(top level)", 512);
  const textConfig = sub("text_config");
  const visionConfig = sub("vision_config");
  // The sub-configs carry their own projection_dim (512 by default); CLIPModel uses the top-level one.
  return {
    text: { ...scalars(textConfig), projection_dim: projectionDim },
    vision: { ...scalars(visionConfig), projection_dim: projectionDim },
    projectionDim,
    textLayers: count(textConfig, "num_hidden_layers", "text_config", 12),
    visionLayers: count(visionConfig, "num_hidden_layers", "vision_config", 12),
    maxPositionEmbeddings: count(textConfig, "max_position_embeddings", "text_config", 77),
    vocabSize: count(textConfig, "vocab_size", "text_config", 49408),
  };
}

/** Reads `dir/config.json`. @throws CheckpointError for a missing, unparsable or invalid file. */
export async function readClipConfig(dir: string, context: string): Promise<ClipConfig> {
  try {
    return parseClipConfig(await readConfig(dir), `${context}: ${path.join(dir, "config.json")}`);
  } catch (error) {
    if (error instanceof CheckpointError && !error.message.startsWith(context)) throw new CheckpointError(`${context}: ${error.message}`);
    throw error;
  }
}
