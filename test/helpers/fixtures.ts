/**
 * Where the reference fixtures live: `<repo>/../shared/fixtures` (CI clones
 * the repo beside a copy of shared/), or EMBEDDINGS_TORCH_FIXTURES.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { parseSafetensors, type SafetensorsFile } from "../../lib/hub/safetensors";

export const FIXTURES = path.resolve(process.env.EMBEDDINGS_TORCH_FIXTURES ?? path.join(__dirname, "..", "..", "..", "shared", "fixtures"));

/** Absolute path of a fixture file; fails with the path when it is missing. */
export function fixturePath(...parts: string[]): string {
  const file = path.join(FIXTURES, ...parts);
  if (!fs.existsSync(file)) throw new Error(`fixture missing: ${file} (set EMBEDDINGS_TORCH_FIXTURES to the shared/fixtures folder)`);
  return file;
}

export function readReferenceJson<T = Record<string, unknown>>(model: string): T {
  return JSON.parse(fs.readFileSync(fixturePath(model, "reference.json"), "utf8")) as T;
}

export interface Reference {
  readonly file: SafetensorsFile;
  /** A reference tensor as float32 values; fails naming the key when absent. */
  tensor(key: string): Float32Array;
  shape(key: string): readonly number[];
}

/** reference.safetensors of a fixture model (computed by transformers / PyTorch, not by us). */
export function readReference(model: string): Reference {
  const file = parseSafetensors(fs.readFileSync(fixturePath(model, "reference.safetensors")), `${model}/reference.safetensors`);
  const entry = (key: string) => {
    const e = file.tensors.get(key);
    if (!e) throw new Error(`${model}/reference.safetensors has no "${key}"; it has ${[...file.tensors.keys()].join(", ")}`);
    return e;
  };
  return {
    file,
    tensor(key) {
      const e = entry(key);
      if (e.dtype !== "float32") throw new Error(`${key} is ${e.dtype}, expected float32`);
      return new Float32Array(e.bytes.slice().buffer);
    },
    shape: (key) => entry(key).shape,
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** Max abs difference relative to the reference's max abs (gradients, optimizer steps). */
export function maxRelDiff(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i] as number));
  return maxAbsDiff(got, ref) / (scale || 1);
}

/** `Object.prototype.toString` tag: TypedArrays from the addon live in another realm than jest's. */
export function typeTag(value: unknown): string {
  return Object.prototype.toString.call(value);
}
