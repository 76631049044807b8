/**
 * preprocessor_config.json of a CLIPImageProcessor (and the ViT-style
 * processors that share its fields), parsed and checked. Field names follow
 * the file; defaults are CLIPImageProcessor's.
 */
import { readFile } from "node:fs/promises";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { errorMessage } from "./errors";
import { FILTERS } from "./resample";

/** Resize target: the shortest edge (aspect kept) or an exact size. */
export type ResizeTarget = { readonly shortestEdge: number } | { readonly height: number; readonly width: number };

export interface ImageProcessorConfig {
  readonly doResize: boolean;
  readonly size: ResizeTarget;
  /** Pillow filter code: 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming. */
  readonly resample: number;
  readonly doCenterCrop: boolean;
  readonly cropSize: { readonly height: number; readonly width: number };
  readonly doRescale: boolean;
  readonly rescaleFactor: number;
  readonly doNormalize: boolean;
  readonly imageMean: readonly number[];
  readonly imageStd: readonly number[];
}

const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

type Json = { readonly [key: string]: unknown };
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/**
 * Checks a parsed preprocessor_config.json.
 * @throws CheckpointError naming `file`, the field, what it must be and what it is.
 */
export function parseImageProcessorConfig(json: Json, file: string): ImageProcessorConfig {
  const bad = (field: string, expected: string): never => {
    throw new CheckpointError(`${file}: ${field} must be ${expected}, got ${JSON.stringify(json[field])}`);
  };
  const flag = (field: string, fallback: boolean): boolean => {
    const v = json[field] ?? fallback;
    return typeof v === "boolean" ? v : bad(field, "true or false");
  };
  // An integer `size` is the shortest edge, an integer `crop_size` a square (transformers' get_size_dict).
  const size = json["size"] ?? { shortest_edge: 224 };
  let target: ResizeTarget;
  if (isSize(size)) target = { shortestEdge: size };
  else if (isObject(size) && isSize(size["shortest_edge"])) target = { shortestEdge: size["shortest_edge"] };
  else if (isObject(size) && isSize(size["height"]) && isSize(size["width"])) target = { height: size["height"], width: size["width"] };
  else target = bad("size", '{"shortest_edge": n} or {"height": h, "width": w} with positive integers');
  const crop = json["crop_size"] ?? 224;
  let cropSize: { height: number; width: number };
  if (isSize(crop)) cropSize = { height: crop, width: crop };
  else if (isObject(crop) && isSize(crop["height"]) && isSize(crop["width"])) cropSize = { height: crop["height"], width: crop["width"] };
  else cropSize = bad("crop_size", '{"height": h, "width": w} with positive integers');
  const resample = json["resample"] ?? 3;
  if (typeof resample !== "number" || FILTERS[resample] === undefined) bad("resample", `one of Pillow's filters ${Object.keys(FILTERS).join(", ")} (3 = bicubic)`);
  const rescaleFactor = json["rescale_factor"] ?? 1 / 255;
  if (typeof rescaleFactor !== "number" || !(rescaleFactor > 0)) bad("rescale_factor", "a positive number");
  const triple = (field: string, fallback: number[], positive: boolean): number[] => {
    const v = json[field] ?? fallback;
    const ok = Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "number" && Number.isFinite(x) && (!positive || x > 0));
    return ok ? (v as number[]) : bad(field, `three ${positive ? "positive " : ""}numbers (R, G, B)`);
  };
  return {
    doResize: flag("do_resize", true),
    size: target,
    resample: resample as number,
    doCenterCrop: flag("do_center_crop", true),
    cropSize,
    doRescale: flag("do_rescale", true),
    rescaleFactor: rescaleFactor as number,
    doNormalize: flag("do_normalize", true),
    imageMean: triple("image_mean", OPENAI_CLIP_MEAN, false),
    imageStd: triple("image_std", OPENAI_CLIP_STD, true),
  };
}

/** Reads `dir/preprocessor_config.json`. @throws CheckpointError for a missing, unparsable or invalid file. */
export async function readImageProcessorConfig(dir: string, context: string): Promise<ImageProcessorConfig> {
  const file = path.join(dir, "preprocessor_config.json");
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new CheckpointError(`${context}: ${file}: cannot read a JSON object (${errorMessage(error)})`);
  }
  if (!isObject(json)) throw new CheckpointError(`${context}: ${file}: expected a JSON object at the top level`);
  return parseImageProcessorConfig(json, `${context}: ${file}`);
}
