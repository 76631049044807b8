/**
 * Freezing a CLIP tower for fine-tuning: requires_grad = false on each
 * parameter of its embeddings and of its first n encoder layers (the seed set
 * the flag on modules, which froze nothing).
 */
import type { Module } from "../../module";

/**
 * @param tower "text_model" or "vision_model": the prefix of the tower's parameters.
 * @param layers how many encoder layers the tower has.
 * @throws TypeError for a non-integer count; RangeError unless 0 <= numFixedLayers < layers
 *   (freezing every layer leaves nothing to tune, which the seed rejects too).
 */
export function freezeLayers(module: Module, tower: string, numFixedLayers: number, layers: number, method: string): void {
  if (typeof numFixedLayers !== "number" || !Number.isSafeInteger(numFixedLayers))
    throw new TypeError(`${method}: numFixedLayers must be an integer but received ${String(numFixedLayers)}`);
  if (numFixedLayers < 0 || numFixedLayers >= layers)
    throw new RangeError(`${method}: numFixedLayers must lie in [0, ${layers - 1}] (the tower has ${layers} layers) but received ${numFixedLayers}`);
  const layer = new RegExp(`^${tower}\\.encoder\\.layers\\.(\\d+)\\.`);
  const names = module
    .namedParameters()
    .map((p) => p.name)
    .filter((name) => name.startsWith(`${tower}.embeddings.`) || Number(layer.exec(name)?.[1] ?? Infinity) < numFixedLayers);
  module.setRequiresGrad(names, false);
}
