/**
 * The one freezing rule of every model (text, CLIP, TorchScript):
 * `fix*Model(n)` sets requires_grad false on each parameter of that tower's
 * embeddings and of its layers 0..n-1, and true on every other parameter of
 * that tower; `unfix*Model()` sets it true on all of them. Parameters are
 * frozen one by one (the seed set the flag on modules, which froze nothing).
 *
 * A tower is one module. Its embeddings are the parameters under an
 * `embeddings.` path part; its layers are numbered path parts `layer.<i>.`
 * (BERT, XLM-R) or `layers.<i>.` (CLIP); anything else (pooler, projection,
 * final layer norm) always trains. When query and items share one module,
 * fixing either side fixes that shared module.
 */
import { describe } from "../dtypes";
import type { Module } from "../module";

const EMBEDDINGS = /(?:^|\.)embeddings\./;
const LAYER = /(?:^|\.)layers?\.(\d+)\./;

/** How many layers the tower has: the distinct layer numbers among its parameter names. */
export function countLayers(module: Module): number {
  const layers = new Set<string>();
  for (const { name } of module.namedParameters()) {
    const layer = LAYER.exec(name)?.[1];
    if (layer !== undefined) layers.add(layer);
  }
  return layers.size;
}

/**
 * Freezes the tower's embeddings and layers 0..n-1 and unfreezes the rest of
 * the tower. `method` names the caller in errors ("fixQueryModel").
 * @throws RangeError for every bad n: not an integer in [0, layers - 1] (one
 *   layer at least must stay trainable), naming the method, the bound, the
 *   layer count and what was received.
 */
export function fixTower(module: Module, numFixedLayers: unknown, method: string): void {
  const layers = countLayers(module);
  if (typeof numFixedLayers !== "number" || !Number.isSafeInteger(numFixedLayers) || numFixedLayers < 0 || numFixedLayers >= layers)
    throw new RangeError(
      `${method}: numFixedLayers must be an integer in [0, ${layers - 1}] (the tower has ${layers} layers and one must stay trainable) but received ${describe(numFixedLayers)}`,
    );
  const names = module.namedParameters().map((p) => p.name);
  const frozen = names.filter((name) => EMBEDDINGS.test(name) || Number(LAYER.exec(name)?.[1] ?? Infinity) < numFixedLayers);
  module.setRequiresGrad(names, true);
  module.setRequiresGrad(frozen, false);
}

/** Makes every parameter of the tower trainable. */
export function unfixTower(module: Module): void {
  module.setRequiresGrad("", true);
}
