/**
 * What Trainer.fit does with a NaN or infinite loss (TrainerOptions.onNonFinite),
 * and the check of parameters before a checkpoint is written: a diverging
 * run stops with NonFiniteLossError and leaves no checkpoint holding NaN/Inf.
 */
import type { Module } from "../module";

/** "stop" (default): throw NonFiniteLossError before the step's optimizer update; "skip-step": drop that step's gradients and go on. */
export type NonFinitePolicy = "stop" | "skip-step";

export const NON_FINITE_POLICIES: readonly NonFinitePolicy[] = ["stop", "skip-step"];

/**
 * The first floating-point parameter or buffer holding NaN or ±Infinity, as
 * "<module>: <name>", or null. One host copy of each tensor (as writing a
 * checkpoint makes anyway).
 */
export function firstNonFiniteTensor(modules: ReadonlyMap<string, Module>): string | null {
  for (const [moduleName, module] of modules) {
    for (const [name, tensor] of module.stateDict()) {
      try {
        if (!tensor.dtype.startsWith("float") && tensor.dtype !== "bfloat16") continue;
        const values = tensor.toFloat32Array();
        for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i] as number)) return `${moduleName}: ${name}`;
      } finally {
        tensor.dispose();
      }
    }
  }
  return null;
}
