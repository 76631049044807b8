/**
 * Types of the config.json fields the models read. A field of the wrong type
 * (`"hidden_size": "64"`) was silently ignored (the addon then used its
 * default); it is refused here, naming the field, the file, the expected type
 * and the value. Fields not listed pass unchecked (config.json carries many
 * that no model reads).
 */
import * as path from "node:path";

import { CheckpointError } from "../errors";
import type { JsonObject } from "../tokenization";

type FieldType = "integer" | "number" | "string" | "boolean" | "integer or null";

const FIELDS: Readonly<Record<string, FieldType>> = {
  hidden_size: "integer",
  num_attention_heads: "integer",
  num_hidden_layers: "integer",
  intermediate_size: "integer",
  vocab_size: "integer",
  max_position_embeddings: "integer",
  type_vocab_size: "integer",
  projection_dim: "integer",
  image_size: "integer",
  patch_size: "integer",
  num_channels: "integer",
  pad_token_id: "integer or null",
  layer_norm_eps: "number",
  hidden_dropout_prob: "number",
  attention_probs_dropout_prob: "number",
  attention_dropout: "number",
  logit_scale_init_value: "number",
  hidden_act: "string",
  position_embedding_type: "string",
  model_type: "string",
};

function fits(value: unknown, type: FieldType): boolean {
  switch (type) {
    case "integer":
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
    case "integer or null":
      return value === null || (typeof value === "number" && Number.isSafeInteger(value));
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    default:
      return typeof value === type;
  }
}

/**
 * Checks the known fields of config.json and of its `text_config` and `vision_config` (CLIP).
 * @throws CheckpointError naming the field, the file, the expected type and the value.
 */
export function checkConfigFields(config: JsonObject, dir: string): void {
  const file = path.join(dir, "config.json");
  const check = (object: JsonObject, prefix: string) => {
    for (const [key, type] of Object.entries(FIELDS)) {
      if (!(key in object) || fits(object[key], type)) continue;
      const value = object[key];
      throw new CheckpointError(`${file}: ${prefix}${key} must be ${type === "integer" ? "a non-negative integer" : `a ${type}`} but is ${typeof value} ${JSON.stringify(value)}`);
    }
  };
  check(config, "");
  for (const nested of ["text_config", "vision_config"]) {
    const value = config[nested];
    if (typeof value === "object" && value !== null && !Array.isArray(value)) check(value as JsonObject, `${nested}.`);
  }
}
