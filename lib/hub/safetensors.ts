/**
 * safetensors files: 8-byte little-endian header length, a JSON header
 * (name -> {dtype, shape, data_offsets}, optional __metadata__), raw
 * little-endian data. Read whole, validated before any tensor is made; written
 * to a temporary file and renamed.
 */
import * as fs from "node:fs";

import { DTYPE_SIZE, type DType } from "../dtypes";
import { CheckpointError, UnsupportedError } from "../errors";
import { Tensor } from "../tensor";
import { writeFileAtomic } from "./atomic";

const FROM_SAFETENSORS: Readonly<Record<string, DType>> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  F64: "float64",
  I64: "int64",
  I32: "int32",
  U8: "uint8",
  BOOL: "bool",
};
const TO_SAFETENSORS: Readonly<Record<DType, string>> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  float64: "F64",
  int64: "I64",
  int32: "I32",
  uint8: "U8",
  bool: "BOOL",
};

/** One tensor's entry, its bytes still in the file's buffer. */
export interface SafetensorsEntry {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Parses a safetensors buffer. Every offset, shape and dtype is checked
 * against the data before anything is returned.
 * @throws CheckpointError naming `file` and the tensor for a truncated file, a
 *   header that lies about offsets, or bad JSON; UnsupportedError for dtypes
 *   libtorch-side code here does not handle (I8, I16, F8...).
 */
export function parseSafetensors(buffer: Uint8Array, file: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new CheckpointError(`${file}: ${why}`);
  };
  if (buffer.byteLength < 8) fail(`truncated: ${buffer.byteLength} bytes, a safetensors file starts with an 8-byte header length`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(buffer.byteLength - 8))
    fail(`header length ${headerLength} exceeds the file (${buffer.byteLength} bytes): truncated or not a safetensors file`);
  const headerEnd = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(buffer.buffer, buffer.byteOffset + 8, Number(headerLength)).toString("utf8"));
  } catch (error) {
    fail(`header is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(header)) return fail("header is not a JSON object");
  const dataLength = buffer.byteLength - headerEnd;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (isRecord(value)) metadata = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
      continue;
    }
    if (!isRecord(value)) fail(`tensor "${name}": entry is not an object`);
    const entry = value as Record<string, unknown>;
    const dtype = typeof entry.dtype === "string" ? FROM_SAFETENSORS[entry.dtype] : undefined;
    if (!dtype) throw new UnsupportedError(`${file}: tensor "${name}" has dtype ${String(entry.dtype)}; supported: ${Object.keys(FROM_SAFETENSORS).join(", ")}`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d): d is number => Number.isSafeInteger(d) && d >= 0))
      fail(`tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o): o is number => Number.isSafeInteger(o) && o >= 0))
      fail(`tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    const expected = dims.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
    if (end < begin || end - begin !== expected)
      fail(`tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} [${dims.join(", ")}] needs ${expected}`);
    if (end > dataLength)
      fail(`tensor "${name}": data_offsets end ${end} lies past the data (${dataLength} bytes): the file is truncated or its header lies`);
    tensors.set(name, { dtype, shape: dims, bytes: buffer.subarray(headerEnd + begin, headerEnd + end) });
  }
  return { tensors, metadata };
}

/** Reads and validates a safetensors file. @throws CheckpointError (missing, truncated, corrupt). */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let buffer: Buffer;
  try {
    buffer = await fs.promises.readFile(file);
  } catch (error) {
    throw new CheckpointError(`${file}: cannot read (${error instanceof Error ? error.message : String(error)})`);
  }
  return parseSafetensors(buffer, file);
}

/** Makes a CPU tensor from an entry (one copy). */
export function entryToTensor(entry: SafetensorsEntry): Tensor {
  return Tensor.from(entry.bytes, entry.shape, { dtype: entry.dtype });
}

/**
 * Writes tensors as safetensors, atomically (temporary file, fsync, rename).
 * Keys are written sorted, like the reference implementation.
 */
export async function writeSafetensors(
  file: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const list: [string, Tensor][] = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Readonly<Record<string, Tensor>>);
  const entries = list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of entries) {
    const data = tensor.data();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: TO_SAFETENSORS[tensor.dtype], shape: tensor.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const padding = (8 - (json.byteLength % 8)) % 8;  // keeps the data 8-byte aligned
  if (padding) json = Buffer.concat([json, Buffer.alloc(padding, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.byteLength));
  await writeFileAtomic(file, [length, json, ...chunks]);
}
