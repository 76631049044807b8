import { checkDevice, type Device } from "./device";
import { checkUnshared, describe, dtypeOfData, isDType, isShape, typedArrayKind, type DType, type TensorData, type TypedArrayOf } from "./dtypes";
import { nativeSync } from "./errors";
import { native, type NativeTensor } from "./native";

export interface TensorOptions {
  /** Element type of the tensor; defaults to the TypedArray's own (Uint16Array: float16 bits). */
  dtype?: DType;
  /** Where the tensor lives; default "cpu". */
  device?: Device;
  /** Track gradients (leaf tensor); default false. */
  requiresGrad?: boolean;
}

/**
 * A libtorch tensor held natively. Results of forwards stay native; `data()`
 * and `toFloat32Array()` are the host copies. Free it with `dispose()` or a
 * `using` declaration; a finalizer frees it otherwise. Disposing a tensor that
 * an in-flight call uses is safe: that call holds its own reference.
 */
export class Tensor implements Disposable {
  #native: NativeTensor;

  private constructor(handle: NativeTensor) {
    this.#native = handle;
  }

  /**
   * Copies `data` into a new tensor of `shape` (one copy; converting when
   * `dtype` differs from the array's element type). A Uint8Array with a
   * non-byte dtype is read as that dtype's raw little-endian bytes.
   * @throws TypeError for a non-TypedArray, an unsupported TypedArray kind
   *   (Int8Array, Uint32Array, …), a SharedArrayBuffer's view or a bad shape, RangeError when the
   *   element count does not match `shape`, DeviceError for an absent device.
   */
  static from(data: TensorData, shape: readonly number[], options: TensorOptions = {}): Tensor {
    if (!ArrayBuffer.isView(data) || data instanceof DataView)
      throw new TypeError(`Tensor.from: expected a TypedArray for data but received ${describe(data)}`);
    if (!isShape(shape))
      throw new TypeError(`Tensor.from: expected shape as an array of non-negative integers but received ${JSON.stringify(shape)}`);
    const natural = dtypeOfData(data);  // throws a TypeError naming an unsupported TypedArray, whatever dtype is asked for
    checkUnshared(data, "Tensor.from: data");
    const dtype = options.dtype ?? natural;
    if (!isDType(dtype)) throw new RangeError(`Tensor.from: unknown dtype "${String(dtype)}"`);
    if (typedArrayKind(data) === "Uint16Array" && dtype !== "float16" && dtype !== "bfloat16")
      throw new TypeError(`Tensor.from: a Uint16Array holds float16 or bfloat16 bits, not ${dtype}`);
    const device = checkDevice(options.device ?? "cpu", "Tensor.from");
    return new Tensor(nativeSync(() => native().NativeTensor.fromBuffer(data, shape, dtype, device, options.requiresGrad ?? false)));
  }

  /** @internal Wraps a handle returned by the addon. */
  static fromNative(handle: NativeTensor): Tensor {
    return new Tensor(handle);
  }

  /** @internal The native handle, for passing to the addon. */
  get native(): NativeTensor {
    return this.#native;
  }

  /** Sizes of each dimension. @throws DisposedError once disposed. */
  get shape(): readonly number[] {
    return nativeSync(() => this.#native.shape);
  }

  get dtype(): DType {
    return nativeSync(() => this.#native.dtype) as DType;
  }

  get device(): Device {
    return nativeSync(() => this.#native.device) as Device;
  }

  get requiresGrad(): boolean {
    return nativeSync(() => this.#native.requiresGrad);
  }

  set requiresGrad(value: boolean) {
    nativeSync(() => {
      this.#native.requiresGrad = value;
    });
  }

  /** The accumulated gradient after a backward pass, or null. */
  get grad(): Tensor | null {
    const grad = nativeSync(() => this.#native.grad);
    return grad ? new Tensor(grad) : null;
  }

  get isDisposed(): boolean {
    return this.#native.isDisposed;
  }

  /** Number of elements. */
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** A host copy in the TypedArray of this dtype (float16/bfloat16: raw bits as Uint16Array). */
  data<D extends DType = DType>(): TypedArrayOf[D] {
    return nativeSync(() => this.#native.data()) as TypedArrayOf[D];
  }

  /** A host copy as float32 (contiguous, on the CPU), whatever the dtype and device. */
  toFloat32Array(): Float32Array {
    return nativeSync(() => this.#native.toFloat32Array());
  }

  /** A tensor on another device and/or of another dtype (shares memory when nothing changes). */
  to(target: Device | DType | { device?: Device; dtype?: DType }): Tensor {
    const { device, dtype } = typeof target === "string" ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    if (dtype !== undefined && !isDType(dtype)) throw new RangeError(`Tensor.to: unknown dtype "${String(dtype)}"`);
    const checked = device === undefined ? null : checkDevice(device, "Tensor.to");
    return new Tensor(nativeSync(() => this.#native.to(checked, dtype ?? null)));
  }

  /** Frees the native memory now (idempotent). Later use throws DisposedError. */
  dispose(): void {
    this.#native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return this.isDisposed ? "Tensor(disposed)" : `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}, device=${this.device})`;
  }
}
