/** Tensor element types, as libtorch names them without the `torch.` prefix. */
export type DType = "float32" | "float16" | "bfloat16" | "float64" | "int64" | "int32" | "uint8" | "bool";

export const DTYPES: readonly DType[] = ["float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"];

/** The TypedArray that holds a dtype's elements on the JS side (float16/bfloat16: raw bits). */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** TypedArrays that Tensor.from accepts. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && (DTYPES as readonly string[]).includes(value);
}

/**
 * A TypedArray's class name, read from its tag rather than `instanceof`: an
 * array made in another realm (a vm context such as jest's, another worker's
 * result) is no instance of this realm's classes, yet holds the same elements.
 */
export function typedArrayKind(data: ArrayBufferView): string {
  return Object.prototype.toString.call(data).slice(8, -1);
}

/** True for an array of non-negative safe integers: a tensor shape. */
export function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/** @throws TypeError naming `what` when `data` views a SharedArrayBuffer, which another thread may change while it is copied. */
export function checkUnshared(data: ArrayBufferView, what: string): void {
  if (Object.prototype.toString.call(data.buffer) === "[object SharedArrayBuffer]")
    throw new TypeError(`${what} is a ${typedArrayKind(data)} over a SharedArrayBuffer, which another thread may change while it is copied; copy it into an ordinary ArrayBuffer first (e.g. ${typedArrayKind(data)}.from(data))`);
}

const DTYPE_OF_ARRAY: Readonly<Record<string, DType>> = {
  Float32Array: "float32",
  Float64Array: "float64",
  Int32Array: "int32",
  BigInt64Array: "int64",
  Uint8Array: "uint8",
  Uint16Array: "float16",  // float16 (or, named, bfloat16) bits
};

/** The dtype a TypedArray's elements convert from, when the caller names none. @throws TypeError for other arrays. */
export function dtypeOfData(data: TensorData): DType {
  const kind = typedArrayKind(data);
  const dtype = DTYPE_OF_ARRAY[kind];
  if (dtype === undefined) throw new TypeError(`Tensor.from: a ${kind} has no tensor dtype; use one of ${Object.keys(DTYPE_OF_ARRAY).join(", ")}`);
  return dtype;
}

/** Describes a value for error messages: "Float32Array(3)", "string", "null". */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<unknown>).length})`;
  if (Array.isArray(value)) return `array(${value.length})`;
  if (typeof value === "string") return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return `${typeof value} ${String(value)}`;
}
