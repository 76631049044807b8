/**
 * `--model <id|dir> [--kind <kind>]` for the commands: the kind is the one
 * given, else read from the folder (or the Hub id's snapshot): modules.json
 * -> sentence-transformers (clip when its module is CLIP), model_type "clip" -> clip, query.pt / model.pt ->
 * torchscript, otherwise e5 (mean pooling, L2-normalised: the usual
 * embedding of a BERT-family checkpoint; pass --kind bert for pooler_output).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import type { Device } from "../device";
import { resolvePretrained } from "../hub/resolve-pretrained";
import type { EmbeddingsModelInterface } from "../interface";
import { modelKind, modelKinds } from "../models";
import { localClipModuleFolder } from "../models/sentence-transformers/clip-module";
import { UsageError } from "./usage";

/** The kind of the model at `dir`. */
export function detectKind(dir: string): string {
  const has = (file: string) => fs.existsSync(path.join(dir, file));
  if (has("modules.json")) return localClipModuleFolder(dir) === undefined ? "sentence-transformers" : "clip";
  if (has("query.pt") || has("model.pt")) return "torchscript";
  if (has("config.json")) {
    const config: unknown = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    if (typeof config === "object" && config !== null && (config as { model_type?: unknown }).model_type === "clip") return "clip";
  }
  return "e5";
}

/** The parseArgs options of every command that loads a model: --model, --kind, --revision, --batch-size, --max-length, --device, --help. */
export const MODEL_FLAGS = {
  model: { type: "string" },
  kind: { type: "string" },
  revision: { type: "string" },
  "batch-size": { type: "string" },
  "max-length": { type: "string" },
  device: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export interface CommandModelOptions {
  readonly kind?: string | undefined;
  readonly revision?: string | undefined;
  readonly maxLength?: number | undefined;
  readonly device: Device;
  /** Text models only. */
  readonly towers?: "shared" | "separate";
}

/** Loads `--model` as `--kind` (or the detected kind). @throws UsageError for an unknown kind. */
export async function loadCommandModel(idOrDir: string, options: CommandModelOptions): Promise<{ model: EmbeddingsModelInterface; kind: string }> {
  if (options.kind !== undefined && !modelKinds().includes(options.kind))
    throw new UsageError(`--kind must be one of ${modelKinds().join(", ")} but received ${JSON.stringify(options.kind)}`);
  const hub = options.revision === undefined ? {} : { revision: options.revision };
  // The files that tell the kind apart; the model's own loader fetches the rest.
  const dir = options.kind !== undefined ? idOrDir : await resolvePretrained(idOrDir, async (get) => {
    for (const file of ["modules.json", "config.json", "query.pt", "model.pt"]) await get(file, { optional: true });
  }, hub, `--model ${idOrDir}`);
  const kind = options.kind ?? detectKind(dir);
  const model = await modelKind(kind)(idOrDir, {
    device: options.device,
    ...hub,
    ...(options.maxLength === undefined ? {} : { maxLength: options.maxLength }),
    ...(options.towers === undefined ? {} : { towers: options.towers }),
  });
  return { model, kind };
}
