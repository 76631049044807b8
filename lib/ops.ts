import { nativeAsync } from "./errors";
import { native } from "./native";
import { Tensor } from "./tensor";

/** Concatenates tensors along `dim` (off the JS thread). @throws ShapeError naming the sizes. */
export async function cat(tensors: readonly Tensor[], dim = 0): Promise<Tensor> {
  if (tensors.length === 0) throw new RangeError("cat: expected at least one tensor");
  if (!Number.isInteger(dim)) throw new TypeError(`cat: dim must be an integer but received ${String(dim)}`);
  return Tensor.fromNative(await nativeAsync(() => native().cat(tensors.map((t) => t.native), dim)));
}
