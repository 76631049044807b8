import { native } from "./native";
import { DeviceError } from "./errors";

/** Where tensors live. `"cuda"` means the current CUDA device (index 0 unless changed). */
export type Device = "cpu" | "cuda" | `cuda:${number}`;

const DEVICE = /^(cpu|cuda(:\d+)?)$/;

export function isDevice(value: unknown): value is Device {
  return typeof value === "string" && DEVICE.test(value);
}

/** Throws a TypeError/RangeError naming `what` unless `value` is a device string. */
export function checkDevice(value: unknown, what: string): Device {
  if (typeof value !== "string") throw new TypeError(`${what}: expected a device ("cpu", "cuda", "cuda:N") but received ${typeof value}`);
  if (!isDevice(value)) throw new RangeError(`${what}: expected a device ("cpu", "cuda", "cuda:N") but received "${value}"`);
  if (value !== "cpu" && !native().cudaIsAvailable())
    throw new DeviceError(`${what}: device "${value}" requested but CUDA is not available (this addon uses libtorch ${native().runtimeInfo().torchVersion}${native().runtimeInfo().cudaBuilt ? " with CUDA, but no GPU is visible" : ", a CPU-only build"}); use "cpu"`);
  return value;
}

/** CUDA queries. TF32 is off by default so float32 results match PyTorch's exactly; turn it on for speed. */
export const cuda = {
  /** True when libtorch was built with CUDA and a GPU is visible. */
  isAvailable(): boolean {
    return native().cudaIsAvailable();
  },
  /** Number of visible CUDA devices (0 without CUDA). */
  deviceCount(): number {
    return native().cudaDeviceCount();
  },
  /** Waits for every queued kernel on `device` (default "cuda"). Throws DeviceError without CUDA. */
  synchronize(device: Device = "cuda"): void {
    checkDevice(device, "cuda.synchronize");
    native().cudaSynchronize(device);
  },
  /**
   * Allows TF32 in cuBLAS and cuDNN float32 matrix products (Ampere and newer):
   * about 8x faster, but results then differ from PyTorch's strict float32 by
   * ~1e-3. Off by default (parity).
   */
  setAllowTF32(allow: boolean): void {
    native().setAllowTF32(allow);
  },
  getAllowTF32(): boolean {
    return native().getAllowTF32();
  },
};

/** Seeds libtorch's CPU and CUDA generators (weight init, dropout). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`manualSeed: expected a non-negative integer but received ${seed}`);
  native().manualSeed(seed);
}

/** Sets libtorch's intra-op thread count (matrix products and element-wise ops). */
export function setNumThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`setNumThreads: expected a positive integer but received ${threads}`);
  native().setNumThreads(threads);
}

export function getNumThreads(): number {
  return native().getNumThreads();
}
