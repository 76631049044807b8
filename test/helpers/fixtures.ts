/**
 * The reference fixtures (test/fixtures: checkpoints and what transformers /
 * PyTorch computed on them, see its README), resolved once, and readers that
 * fail with the path of a missing file. The repository carries them: nothing
 * here reads outside it.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { parseSafetensors, type SafetensorsFile } from "../../lib/hub/safetensors";

/** Absolute path of test/fixtures. */
export const FIXTURES: string = path.resolve(__dirname, "..", "fixtures");

/** A fixture's reference.json: texts and integer tables computed by transformers. */
export interface ReferenceJson {
  readonly path: string;
  readonly texts: readonly string[];
  /** A `number[][]` entry such as "fixed.input_ids"; throws naming the key and file otherwise. */
  intRows(key: string): number[][];
  /** A `number[]` entry such as "pair.input_ids". */
  intRow(key: string): number[];
}

/** Reads `<FIXTURES>/<name>/reference.json`; a missing file fails with its path. */
export function readReferenceJson(name: string): ReferenceJson {
  const file = path.join(FIXTURES, name, "reference.json");
  if (!fs.existsSync(file)) {
    throw new Error(`fixture missing: ${file}`);
  }
  const data: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
  if (typeof data !== "object" || data === null) throw new Error(`${file}: expected a JSON object`);
  const entries = data as Record<string, unknown>;
  const isIntRow = (row: unknown): row is number[] => Array.isArray(row) && row.every((x) => Number.isInteger(x));
  const texts = entries["texts"];
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string")) throw new Error(`${file}: "texts" is not a string array`);
  return {
    path: file,
    texts,
    intRows(key) {
      const rows = entries[key];
      if (!Array.isArray(rows) || !rows.every(isIntRow)) throw new Error(`${file}: "${key}" is not an integer table`);
      return rows;
    },
    intRow(key) {
      const row = entries[key];
      if (!isIntRow(row)) throw new Error(`${file}: "${key}" is not an integer list`);
      return row;
    },
  };
}

/** A float32 tensor of a fixture's reference.safetensors (every tensor there is float32). */
export interface ReferenceTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Reads tensor `key` of `<FIXTURES>/<name>/reference.safetensors`; fails with the path and key. */
export function readReferenceTensor(name: string, key: string): ReferenceTensor {
  const file = path.join(FIXTURES, name, "reference.safetensors");
  if (!fs.existsSync(file)) throw new Error(`fixture missing: ${file}`);
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0)); // safetensors: u64 LE header size, JSON header, data
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const entry = header[key];
  if (entry === undefined) throw new Error(`${file}: no tensor "${key}"`);
  if (entry.dtype !== "F32") throw new Error(`${file}: "${key}" is ${entry.dtype}, expected F32`);
  const [begin, end] = entry.data_offsets;
  const raw = bytes.subarray(8 + headerLength + begin, 8 + headerLength + end);
  const data = new Float32Array(raw.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = raw.readFloatLE(i * 4);
  return { shape: entry.shape, data };
}

/** Absolute path of a fixture file; fails with the path when it is missing. */
export function fixturePath(...parts: string[]): string {
  const file = path.join(FIXTURES, ...parts);
  if (!fs.existsSync(file)) throw new Error(`fixture missing: ${file}`);
  return file;
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
      return new Float32Array(new Uint8Array(e.bytes).buffer);  // a copy: Buffer views share a pool
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
