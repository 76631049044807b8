/**
 * Model kinds by name ("bert", "e5", "clip", "torchscript"): how the command
 * line loads a checkpoint folder. Each model file registers its kind; the CLI
 * only knows this registry.
 */
import type { Device } from "../device";
import type { EmbeddingsModelInterface } from "../interface";

export interface ModelKindOptions {
  /** Branch, tag or commit when the model is a Hub id. */
  revision?: string;
  /** Text models: one encoder for queries and items, or one each. */
  towers?: "shared" | "separate";
  /** Longest tokenised text, special tokens included. Default: the tokenizer's. */
  maxLength?: number;
  device?: Device;
}

/** Loads a model of this kind from a folder or a Hub id. */
export type ModelKindLoader = (idOrDir: string, options: ModelKindOptions) => Promise<EmbeddingsModelInterface>;

const kinds = new Map<string, ModelKindLoader>();

/** Registers (or replaces) a kind. */
export function registerModelKind(kind: string, load: ModelKindLoader): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(kind)) throw new RangeError(`registerModelKind: kind must be lower-case letters, digits and '-' but received ${JSON.stringify(kind)}`);
  kinds.set(kind, load);
}

/** The registered kinds, sorted. */
export function modelKinds(): string[] {
  return [...kinds.keys()].sort();
}

/** The loader of a kind. @throws RangeError listing the registered kinds. */
export function modelKind(kind: string): ModelKindLoader {
  const load = kinds.get(kind);
  if (load === undefined) throw new RangeError(`unknown model kind ${JSON.stringify(kind)}; registered kinds: ${modelKinds().join(", ") || "none"}`);
  return load;
}
