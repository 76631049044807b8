/**
 * Backward passes: fill parameter gradients (Tensor.grad) from forward
 * outputs computed with `{ grad: true }`. Optimizer steps live in lib/training.
 */
import { describe } from "./dtypes";
import { nativeAsync, nativeSync } from "./errors";
import type { Module } from "./module";
import { native } from "./native";
import { Tensor } from "./tensor";

function handles(tensors: Tensor | readonly Tensor[], what: string): Tensor["native"][] {
  const list: readonly unknown[] = Array.isArray(tensors) ? tensors : [tensors];
  return list.map((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`backward: ${what}[${i}] must be a Tensor but received ${describe(t)}`);
    return t.native;
  });
}

/**
 * Runs autograd off the JS thread: accumulates into every parameter that
 * requires grad the gradient of `sum_i <outputs[i], gradients[i]>` (with no
 * `gradients`, of the sum of scalar outputs). Gradients are constants.
 * @throws ShapeError when a gradient's shape differs from its output's or an
 *   output is not a scalar without gradients; TorchError when an output has
 *   no autograd graph (forward without `{ grad: true }`, or every parameter frozen).
 */
export async function backward(outputs: Tensor | readonly Tensor[], gradients?: Tensor | readonly Tensor[]): Promise<void> {
  const outs = handles(outputs, "outputs");
  const grads = gradients === undefined ? null : handles(gradients, "gradients");
  if (grads !== null && grads.length !== outs.length)
    throw new RangeError(`backward: got ${grads.length} gradients for ${outs.length} outputs`);
  await nativeAsync(() => native().backwardOutputs(outs, grads));
}

/**
 * Each parameter's accumulated gradient by name (aliases of the module's
 * .grad tensors, no copy), or null where backward computed none: a frozen
 * parameter, or no backward yet.
 */
export function namedGradients(module: Module): Map<string, Tensor | null> {
  const grads = nativeSync(() => native().namedGradients(module.native));
  return new Map(Object.entries(grads).map(([name, g]) => [name, g === null ? null : Tensor.fromNative(g)]));
}
