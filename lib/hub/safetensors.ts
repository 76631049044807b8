/**
 * safetensors files: 8-byte little-endian header length, a JSON header
 * (name -> {dtype, shape, data_offsets}, optional __metadata__), raw
 * little-endian data. Read by header and per-tensor byte ranges (any file
 * size: fs.readFile stops at 2 GiB, and multilingual-e5-large ships 2.2 GB),
 * every entry validated against the file's size before any tensor is made;
 * written to a temporary file and renamed.
 */
import * as fs from "node:fs";

import { DTYPE_SIZE, describe, type DType } from "../dtypes";
import { CheckpointError, UnsupportedError } from "../errors";
import { Tensor } from "../tensor";
import { writeFileAtomic } from "./atomic";
import { wrapFsError } from "./fs-errors";

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

/** A validated header entry: where its bytes lie in the data section. */
interface HeaderEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Validates a safetensors header against the size of the data that follows
 * it. @throws CheckpointError naming `file` and the tensor for bad JSON or a
 * header that lies about offsets; UnsupportedError for dtypes not handled here
 * (I8, I16, F8...).
 */
function parseHeader(json: Buffer, dataLength: number, file: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new CheckpointError(`${file}: ${why}`);
  };
  let header: unknown;
  try {
    header = JSON.parse(json.toString("utf8"));
  } catch (error) {
    fail(`header is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(header)) return fail("header is not a JSON object");
  const entries: HeaderEntry[] = [];
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
    entries.push({ name, dtype, shape: dims, begin, end });
  }
  return { entries, metadata };
}

/**
 * Parses a safetensors file held in memory. Every offset, shape and dtype is
 * checked against the data before anything is returned; entries are views of
 * `buffer`.
 * @throws CheckpointError naming `file` and the tensor for a truncated file, a
 *   header that lies about offsets, or bad JSON; UnsupportedError for dtypes
 *   not handled here (I8, I16, F8...).
 */
export function parseSafetensors(buffer: Uint8Array, file: string): SafetensorsFile {
  if (buffer.byteLength < 8) throw new CheckpointError(`${file}: truncated: ${buffer.byteLength} bytes, a safetensors file starts with an 8-byte header length`);
  const headerLength = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(buffer.byteLength - 8))
    throw new CheckpointError(`${file}: header length ${headerLength} exceeds the file (${buffer.byteLength} bytes): truncated or not a safetensors file`);
  const headerEnd = 8 + Number(headerLength);
  const { entries, metadata } = parseHeader(Buffer.from(buffer.buffer, buffer.byteOffset + 8, Number(headerLength)), buffer.byteLength - headerEnd, file);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, bytes: buffer.subarray(headerEnd + e.begin, headerEnd + e.end) });
  return { tensors, metadata };
}

/** Reads `length` bytes at `position` fully (reads of at most 1 GiB each: one read call stops near 2 GiB). */
async function readRange(handle: fs.promises.FileHandle, position: number, length: number, file: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(buffer, done, Math.min(length - done, 1 << 30), position + done);
    if (bytesRead === 0) throw new CheckpointError(`${file}: truncated: ended at byte ${position + done}, expected ${length - done} more`);
    done += bytesRead;
  }
  return buffer;
}

/**
 * Opens a safetensors file and validates its header against the file's size;
 * `each` receives every tensor's bytes in file order, read one range at a
 * time, so a file of any size passes through with one tensor in JS memory.
 * @throws CheckpointError (missing, truncated, corrupt), naming the file.
 */
async function streamSafetensors(
  file: string,
  each: (name: string, entry: SafetensorsEntry) => void,
): Promise<Readonly<Record<string, string>>> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, "r");
  } catch (error) {
    throw new CheckpointError(`${file}: cannot read (${error instanceof Error ? error.message : String(error)})`);
  }
  try {
    const size = (await handle.stat()).size;
    if (size < 8) throw new CheckpointError(`${file}: truncated: ${size} bytes, a safetensors file starts with an 8-byte header length`);
    const headerLength = (await readRange(handle, 0, 8, file)).readBigUInt64LE(0);
    if (headerLength > BigInt(size - 8)) throw new CheckpointError(`${file}: header length ${headerLength} exceeds the file (${size} bytes): truncated or not a safetensors file`);
    const headerEnd = 8 + Number(headerLength);
    const { entries, metadata } = parseHeader(await readRange(handle, 8, Number(headerLength), file), size - headerEnd, file);
    for (const e of [...entries].sort((a, b) => a.begin - b.begin))
      each(e.name, { dtype: e.dtype, shape: e.shape, bytes: await readRange(handle, headerEnd + e.begin, e.end - e.begin, file) });
    return metadata;
  } finally {
    await handle.close();
  }
}

/** Reads and validates a safetensors file of any size, one tensor range at a time. @throws CheckpointError (missing, truncated, corrupt). */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  checkFileArgument(file, "readSafetensors");
  const tensors = new Map<string, SafetensorsEntry>();
  try {
    const metadata = await streamSafetensors(file, (name, entry) => tensors.set(name, entry));
    return { tensors, metadata };
  } catch (error) {
    throw wrapFsError(error, `readSafetensors(${file})`, CheckpointError);
  }
}

function checkFileArgument(file: unknown, what: string): asserts file is string {
  if (typeof file !== "string" || file === "") throw new TypeError(`${what}: expected a file path but received ${describe(file)}`);
}

/**
 * Reads a safetensors file of any size straight into CPU tensors: each
 * tensor's bytes are read, copied into its tensor and dropped before the next,
 * so JS memory holds one tensor at a time. The caller disposes the tensors.
 * @throws CheckpointError (missing, truncated, corrupt), naming the file.
 */
export async function readSafetensorsTensors(file: string): Promise<{ tensors: Map<string, Tensor>; metadata: Readonly<Record<string, string>> }> {
  const tensors = new Map<string, Tensor>();
  try {
    const metadata = await streamSafetensors(file, (name, entry) => tensors.set(name, entryToTensor(entry)));
    return { tensors, metadata };
  } catch (error) {
    for (const tensor of tensors.values()) tensor.dispose();
    throw wrapFsError(error, `readSafetensorsTensors(${file})`, CheckpointError);
  }
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
  checkFileArgument(file, "writeSafetensors");
  if (typeof tensors !== "object" || tensors === null || Array.isArray(tensors)) throw new TypeError(`writeSafetensors(${file}): expected a Map or record of Tensors but received ${describe(tensors)}`);
  const list: [string, Tensor][] = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Readonly<Record<string, Tensor>>);
  const entries = list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of entries) {
    if (!(tensor instanceof Tensor)) throw new TypeError(`writeSafetensors(${file}): tensor "${name}" must be a Tensor but is ${describe(tensor)}`);
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
  await writeFileAtomic(file, [length, json, ...chunks]).catch((error: unknown) => {
    throw wrapFsError(error, `writeSafetensors(${file})`, CheckpointError);
  });
}
