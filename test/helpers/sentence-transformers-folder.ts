/**
 * sentence-transformers folders built around a fixture checkpoint, written
 * here as sentence-transformers' `save` lays them out (modules.json,
 * sentence_bert_config.json, config_sentence_transformers.json,
 * <i>_Pooling/config.json, <i>_Dense/{config.json, model.safetensors},
 * <i>_Normalize/), and the float64 arithmetic the expected outputs need.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { Tensor, writeSafetensors } from "../../lib";
import { FIXTURES } from "./fixtures";

export type Stage =
  | { kind: "pooling"; config: Record<string, unknown> }
  | { kind: "dense"; inFeatures: number; outFeatures: number; activation: string; weight: Float32Array; bias: Float32Array }
  | { kind: "normalize" };

export interface FolderSpec {
  fixture: "bert-tiny" | "xlmr-tiny";
  stages: readonly Stage[];
  maxSeqLength?: number;
  prompts?: Record<string, string>;
}

const TYPES = { pooling: "sentence_transformers.models.Pooling", dense: "sentence_transformers.models.Dense", normalize: "sentence_transformers.models.Normalize" };
const NAMES = { pooling: "Pooling", dense: "Dense", normalize: "Normalize" };

export async function writeSentenceTransformersFolder(dir: string, spec: FolderSpec): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(FIXTURES, spec.fixture, file), path.join(dir, file));
  const modules: object[] = [{ idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" }];
  for (const [i, stage] of spec.stages.entries()) {
    const folder = `${i + 1}_${NAMES[stage.kind]}`;
    modules.push({ idx: i + 1, name: String(i + 1), path: folder, type: TYPES[stage.kind] });
    fs.mkdirSync(path.join(dir, folder));
    if (stage.kind === "pooling") fs.writeFileSync(path.join(dir, folder, "config.json"), JSON.stringify(stage.config));
    if (stage.kind === "dense") {
      fs.writeFileSync(path.join(dir, folder, "config.json"), JSON.stringify({ in_features: stage.inFeatures, out_features: stage.outFeatures, bias: true, activation_function: stage.activation }));
      using weight = Tensor.from(stage.weight, [stage.outFeatures, stage.inFeatures]);
      using bias = Tensor.from(stage.bias, [stage.outFeatures]);
      await writeSafetensors(path.join(dir, folder, "model.safetensors"), { "linear.weight": weight, "linear.bias": bias });
    }
  }
  fs.writeFileSync(path.join(dir, "modules.json"), JSON.stringify(modules));
  fs.writeFileSync(path.join(dir, "sentence_bert_config.json"), JSON.stringify({ max_seq_length: spec.maxSeqLength ?? 32, do_lower_case: false }));
  fs.writeFileSync(path.join(dir, "config_sentence_transformers.json"), JSON.stringify({ prompts: spec.prompts ?? {}, default_prompt_name: null, similarity_fn_name: "cosine" }));
  return dir;
}

/** Deterministic values in [-scale, scale) (a linear congruential generator). */
export function pseudoRandom(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32 * 2 - 1) * scale;
  }
  return out;
}
