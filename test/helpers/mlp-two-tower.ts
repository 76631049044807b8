/**
 * A two-tower "text" model made of MLPs, for training tests without BERT:
 * a text becomes a bag of hashed words (16 features), each tower is an MLP
 * (fc1 = "embeddings", fc2 = "layer 0").
 */
import { Module, Tensor } from "../../lib";
import type { EncodingModel } from "../../lib/training/training-module";
import { seededValues } from "./torch-reference";

export const FEATURES = 16;

/** Hashed bag of words, L1-normalised: the same text always gives the same features. */
export function features(texts: readonly string[], dim = FEATURES): Float32Array {
  const out = new Float32Array(texts.length * dim);
  texts.forEach((text, row) => {
    const words = text.toLowerCase().split(/\s+/).filter((w) => w !== "");
    for (const w of words) {
      let h = 2166136261;
      for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619) >>> 0;
      out[row * dim + (h % dim)]! += 1 / Math.max(1, words.length);
    }
  });
  return out;
}

function tower(seed: number, dim: number, hidden: number): Module {
  const m = Module.create("mlp", { in_features: dim, hidden_features: hidden, out_features: 8 });
  const shapes: Record<string, number[]> = { "fc1.weight": [hidden, dim], "fc1.bias": [hidden], "fc2.weight": [8, hidden], "fc2.bias": [8] };
  void m.loadStateDict(new Map(Object.entries(shapes).map(([k, s], i) => [k, Tensor.from(seededValues(seed * 10 + i, s.reduce((a, b) => a * b, 1), 0.5), s)])));
  return m;
}

export class MlpTwoTower implements EncodingModel, Disposable {
  readonly query: Module;
  readonly items: Module;
  readonly #dim: number;
  constructor(options: { shared?: boolean; seed?: number; features?: number; hidden?: number } = {}) {
    this.#dim = options.features ?? FEATURES;
    this.query = tower(options.seed ?? 1, this.#dim, options.hidden ?? 12);
    this.items = options.shared ? this.query : tower((options.seed ?? 1) + 1, this.#dim, options.hidden ?? 12);
  }
  get sameQueryAndItems(): boolean {
    return this.query === this.items;
  }
  getQueryModel(): Module {
    return this.query;
  }
  getItemsModel(): Module {
    return this.items;
  }
  async #encode(module: Module, texts: readonly string[], grad: boolean): Promise<Tensor> {
    using x = Tensor.from(features(texts, this.#dim), [texts.length, this.#dim]);
    return module.forwardTensor([x], { grad });
  }
  encodeQueries(texts: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    return this.#encode(this.query, texts, options.grad);
  }
  encodeItems(items: readonly string[], options: { grad: boolean }): Promise<Tensor> {
    return this.#encode(this.items, items, options.grad);
  }
  /** Freezes fc1 ("embeddings"); the only layer, fc2, cannot be fixed (like n >= layers). */
  fixQueryModel(n: number): void {
    if (n >= 1) throw new RangeError(`fixQueryModel(${n}): the MLP has 1 layer`);
    this.query.setRequiresGrad("fc1", false);
  }
  unfixQueryModel(): void {
    this.query.setRequiresGrad("", true);
  }
  fixItemModel(n: number): void {
    if (n >= 1) throw new RangeError(`fixItemModel(${n}): the MLP has 1 layer`);
    this.items.setRequiresGrad("fc1", false);
  }
  unfixItemModel(): void {
    this.items.setRequiresGrad("", true);
  }
  dispose(): void {
    this.query.dispose();
    if (this.items !== this.query) this.items.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Weights of a module as plain arrays by name. */
export function weights(module: Module): Record<string, number[]> {
  const state = module.stateDict();
  const out = Object.fromEntries([...state].map(([k, t]) => [k, Array.from(t.toFloat32Array())]));
  for (const t of state.values()) t.dispose();
  return out;
}

const COLORS = ["red", "blue", "green", "black", "white", "grey"];
const THINGS = ["shoes", "jacket", "phone case", "backpack", "lamp", "mug"];

/** Deterministic pairs: the positive shares the query's words, the negative does not. */
export function syntheticPairs(count: number, seed = 0) {
  return Array.from({ length: count }, (_, i) => {
    const c = COLORS[(i + seed) % COLORS.length]!;
    const t = THINGS[(i * 7 + seed) % THINGS.length]!;
    const other = THINGS[(i * 7 + seed + 3) % THINGS.length]!;
    return { sessionId: `s${i}`, query: `${c} ${t}`, positive: `${t} in ${c}`, negative: `${other} in ${COLORS[(i + seed + 2) % COLORS.length]!}`, positiveId: `p${i}`, negativeId: `n${i}` };
  });
}
