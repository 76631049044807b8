/**
 * The `dtype` option of every model's fromPretrained (text models, CLIP):
 * one check, and one rule for "bfloat16" on a CPU that lacks bf16 matrix
 * instructions (it loads float32, with a one-line notice).
 */
import { cpuHasBfloat16Matmul, readCpuinfo } from "../cpu-features";
import type { Device } from "../device";
import { describe, type DType } from "../dtypes";

/** The dtypes a model's weights may be loaded in (the `dtype` option of fromPretrained). */
export type WeightDtype = Extract<DType, "float32" | "float16" | "bfloat16">;

/**
 * The dtype the weights get for `dtype` on `device`, and the notice to give
 * when it differs: "bfloat16" on a CPU without bf16 matrix instructions runs
 * float32 (see cpuHasBfloat16Matmul).
 */
export function weightDtype(dtype: WeightDtype, device: Device, where: string, cpuinfo: () => string = readCpuinfo): { dtype: WeightDtype; notice?: string } {
  if (dtype !== "bfloat16" || device !== "cpu" || cpuHasBfloat16Matmul(cpuinfo())) return { dtype };
  return {
    dtype: "float32",
    notice: `${where}: dtype "bfloat16" runs as float32 on this CPU: it has neither AMX-BF16 nor AVX512-BF16, without which bfloat16 is slower than float32 on CPU`,
  };
}

/**
 * A `dtype` option checked and resolved for `device`: the weights' dtype
 * (default "float32"), with weightDtype's notice emitted as a warning
 * (EMBEDDINGS_TORCH_BF16_CPU). Every model with a `dtype` option uses it.
 * @throws RangeError for anything but "float32", "float16" or "bfloat16".
 */
export function resolveWeightDtype(dtype: unknown, device: Device, where: string): WeightDtype {
  if (dtype !== undefined && dtype !== "float32" && dtype !== "float16" && dtype !== "bfloat16")
    throw new RangeError(`${where}: dtype must be "float32", "float16" or "bfloat16" but received ${describe(dtype)}`);
  const choice = weightDtype(dtype ?? "float32", device, where);
  if (choice.notice) process.emitWarning(choice.notice, { code: "EMBEDDINGS_TORCH_BF16_CPU" });
  return choice.dtype;
}
