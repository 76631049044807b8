/** backward() on a loss tensor, off the JS thread. */
import { nativeAsync } from "../errors";
import { native } from "../native";
import { Tensor } from "../tensor";
import { describe } from "../dtypes";

export interface BackwardOptions {
  /**
   * Multiplies the gradient that flows back (= backward of loss * scale):
   * 1 / accumulation steps when accumulating gradients. Default 1.
   */
  readonly scale?: number;
}

/**
 * Accumulates d(loss)/d(parameter) into the `.grad` of every leaf that
 * requires grad and frees the graph.
 * @throws RangeError unless the loss holds one element; TorchError when it has no graph.
 */
export async function backward(loss: Tensor, options: BackwardOptions = {}): Promise<void> {
  if (!(loss instanceof Tensor)) throw new TypeError(`backward: loss must be a Tensor but received ${describe(loss)}`);
  const scale = options.scale ?? 1;
  if (typeof scale !== "number" || !Number.isFinite(scale)) throw new RangeError(`backward: scale must be a finite number but received ${describe(scale)}`);
  await nativeAsync(() => native().backward(loss.native, scale));
}
