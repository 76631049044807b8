/**
 * sentence-transformers folders around a CLIP checkpoint (clip-ViT-B-32 and
 * kin): modules.json names one module, the legacy `CLIPModel` or a
 * `Transformer` whose config.json has model_type "clip", whose
 * get_text_features / get_image_features are the embeddings: exactly what
 * TextToImageClipModel computes from that module's folder.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { UnsupportedError } from "../../errors";

/**
 * The folder of the CLIP module when `modules` (modules.json's parsed
 * contents) describes a sentence-transformers CLIP model, else undefined.
 * `modelType(folder)` reads that folder's config.json model_type, if any.
 * @throws UnsupportedError when modules follow the CLIP module (a head TextToImageClipModel does not run).
 */
export function clipModuleFolder(modules: unknown, modelType: (folder: string) => unknown, file: string): string | undefined {
  if (!Array.isArray(modules) || modules.length === 0) return undefined;
  const first = modules[0] as { type?: unknown; path?: unknown } | null;
  if (typeof first?.type !== "string" || typeof first.path !== "string") return undefined;
  const kind = first.type.split(".").at(-1);
  const isClip = kind === "CLIPModel" || (kind === "Transformer" && modelType(first.path) === "clip");
  if (!isClip) return undefined;
  if (modules.length > 1)
    throw new UnsupportedError(`${file}: modules after the CLIP module (${modules.slice(1).map((m) => String((m as { type?: unknown }).type)).join(", ")}) are not run by TextToImageClipModel`);
  return first.path;
}

/** clipModuleFolder for a local folder. */
export function localClipModuleFolder(root: string): string | undefined {
  const file = path.join(root, "modules.json");
  if (!fs.existsSync(file)) return undefined;
  const modelType = (folder: string) => {
    const config = path.join(root, folder, "config.json");
    return fs.existsSync(config) ? (JSON.parse(fs.readFileSync(config, "utf8")) as { model_type?: unknown }).model_type : undefined;
  };
  return clipModuleFolder(JSON.parse(fs.readFileSync(file, "utf8")), modelType, file);
}
