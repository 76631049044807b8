/**
 * Hugging Face checkpoint folders: config.json, model.safetensors (or a
 * sharded model.safetensors.index.json), tokenizer files. Weights are
 * safetensors only: pickled pytorch_model.bin files are refused, not run.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { isJsonObject, readJsonObject, type JsonObject } from "../tokenization";
import type { Tensor } from "../tensor";
import { checkConfigFields } from "./config-fields";
import { readSafetensorsTensors } from "./safetensors";

/** Reads `<dir>/config.json`. @throws CheckpointError naming the folder or file. */
export async function readConfig(dir: string): Promise<JsonObject> {
  if (typeof dir !== "string") throw new TypeError(`expected a checkpoint folder path but received ${typeof dir}`);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CheckpointError(`${dir}: not a folder (expected a Hugging Face checkpoint folder with config.json)`);
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir}: no config.json (expected a Hugging Face checkpoint folder)`);
  let config: JsonObject;
  try {
    config = await readJsonObject(file, "config.json");
  } catch (error) {
    throw new CheckpointError(error instanceof Error ? error.message : String(error));
  }
  checkConfigFields(config, dir);
  return config;
}

/** config.json's scalar fields (numbers, strings, booleans), as model options for the addon. */
export function scalarOptions(config: JsonObject): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const [key, value] of Object.entries(config)) {
    if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") out[key] = value;
  }
  return out;
}

/** An integer field of config.json. @throws CheckpointError naming the file and key. */
export function configInteger(config: JsonObject, key: string, dir: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0)
    throw new CheckpointError(`${path.join(dir, "config.json")}: ${key} must be a non-negative integer but is ${JSON.stringify(value)}`);
  return value;
}

/** Files holding the weights: model.safetensors, or the shards a sharded index names. */
async function weightFiles(dir: string): Promise<string[]> {
  const single = path.join(dir, "model.safetensors");
  if (fs.existsSync(single)) return [single];
  const index = path.join(dir, "model.safetensors.index.json");
  if (fs.existsSync(index)) {
    const parsed = await readJsonObject(index, "model.safetensors.index.json").catch((error: unknown) => {
      throw new CheckpointError(error instanceof Error ? error.message : String(error));  // a weights file, not a tokenizer file
    });
    const map = parsed.weight_map;
    if (!isJsonObject(map)) throw new CheckpointError(`${index}: no "weight_map" object`);
    const shards = [...new Set(Object.values(map))];
    for (const shard of shards) {
      if (typeof shard !== "string") throw new CheckpointError(`${index}: weight_map values must be shard file names but one is ${JSON.stringify(shard)}`);
      // A shard name is a file of this folder: "../x" or "/etc/x" would read outside the model.
      const relative = path.relative(dir, path.resolve(dir, shard));
      if (relative === "" || relative.startsWith("..") || path.isAbsolute(relative) || relative.includes(path.sep))
        throw new CheckpointError(`${index}: shard ${JSON.stringify(shard)} is not a file name inside ${dir}; a shard index may only name files of the model folder`);
      if (!fs.existsSync(path.join(dir, shard))) throw new CheckpointError(`${index}: shard ${shard} is missing from ${dir}`);
    }
    return shards.map((s) => path.join(dir, String(s)));
  }
  const present = fs.readdirSync(dir);
  const pickles = present.filter((f) => /\.(bin|pt|pth|ckpt)$/.test(f));
  throw new CheckpointError(
    `${dir}: no model.safetensors or model.safetensors.index.json` +
      (pickles.length
        ? ` (found ${pickles.join(", ")}: pickled weights are not loaded, since unpickling runs code; convert them with transformers: model.save_pretrained(dir, safe_serialization=True))`
        : ` (the folder has: ${present.join(", ") || "nothing"})`),
  );
}

/**
 * Reads every weight of a checkpoint folder as CPU tensors (float32, float16
 * or bfloat16 as stored). When keys carry the model's base prefix
 * (`bert.` in BertForMaskedLM, `roberta.`), the prefix is removed and keys
 * outside it (task heads) are left out. The caller disposes the tensors.
 * @throws CheckpointError for missing, truncated or corrupt files.
 */
export async function readCheckpointWeights(dir: string, basePrefixes: readonly string[] = []): Promise<Map<string, Tensor>> {
  const weights = new Map<string, Tensor>();
  try {
    for (const file of await weightFiles(dir)) {
      for (const [name, tensor] of (await readSafetensorsTensors(file)).tensors) weights.set(name, tensor);
    }
  } catch (error) {
    for (const tensor of weights.values()) tensor.dispose();  // a later shard failed: free the earlier ones
    throw error;
  }
  const prefix = basePrefixes.find((p) => [...weights.keys()].some((k) => k.startsWith(`${p}.`)));
  if (!prefix) return weights;
  const stripped = new Map<string, Tensor>();
  for (const [name, tensor] of weights) {
    if (name.startsWith(`${prefix}.`)) stripped.set(name.slice(prefix.length + 1), tensor);
    else tensor.dispose();  // a task head (cls., lm_head., classifier.): not part of the encoder
  }
  return stripped;
}
