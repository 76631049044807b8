/**
 * Token batches for tracing tests (deterministic pseudo-random ids, right
 * padding) and the masked-mean test model's function computed in JS from its
 * state dict: an independent reference for what the addon and its traces compute.
 */
import type { Module, Tensor as TensorType } from "../../lib";
import { Tensor } from "../../lib";

export interface TokenBatch {
  readonly batch: number;
  readonly length: number;
  readonly ids: BigInt64Array;
  readonly mask: BigInt64Array;
  readonly types: BigInt64Array;
}

/** `batch` rows of `length` tokens; row r has max(1, length - (r * 3) % length) real tokens, then padding id 0. */
export function tokenBatch(batch: number, length: number, vocab: number, seed: number): TokenBatch {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s;
  };
  const ids = new BigInt64Array(batch * length);
  const mask = new BigInt64Array(batch * length);
  const types = new BigInt64Array(batch * length);
  for (let r = 0; r < batch; r++) {
    const real = Math.max(1, length - ((r * 3) % length));
    for (let c = 0; c < length; c++) {
      const i = r * length + c;
      if (c < real) {
        ids[i] = BigInt(1 + (next() % (vocab - 1)));
        mask[i] = 1n;
        types[i] = BigInt(c >= real / 2 ? 1 : 0);
      }
    }
  }
  return { batch, length, ids, mask, types };
}

/** The batch as tensors named like Hugging Face inputs (the caller disposes them). */
export function tokenTensors(b: TokenBatch, names: readonly ("input_ids" | "attention_mask" | "token_type_ids")[] = ["input_ids", "attention_mask"]): Record<string, TensorType> {
  const data = { input_ids: b.ids, attention_mask: b.mask, token_type_ids: b.types };
  return Object.fromEntries(names.map((n) => [n, Tensor.from(data[n], [b.batch, b.length])]));
}

export function disposeAll(record: Readonly<Record<string, TensorType>>): void {
  for (const t of Object.values(record)) t.dispose();
}

/** masked-mean's forward in JS: dense(mean over real tokens of word [+ type] embeddings). */
export function referenceMaskedMean(module: Module, b: TokenBatch, withTypes = false): Float32Array {
  const state = module.stateDict();
  const get = (k: string) => {
    const t = state.get(k);
    if (!t) throw new Error(`no ${k}`);
    return { data: t.toFloat32Array(), shape: t.shape };
  };
  const words = get("word_embeddings.weight");
  const types = get("token_type_embeddings.weight");
  const weight = get("dense.weight");
  const bias = get("dense.bias").data;
  for (const t of state.values()) t.dispose();
  const h = words.shape[1] as number;
  const out = new Float32Array(b.batch * h);
  for (let r = 0; r < b.batch; r++) {
    const pooled = new Float64Array(h);
    let count = 0;
    for (let c = 0; c < b.length; c++) {
      const i = r * b.length + c;
      if (b.mask[i] === 0n) continue;
      count++;
      for (let k = 0; k < h; k++) {
        let v = words.data[Number(b.ids[i]) * h + k] as number;
        if (withTypes) v += types.data[Number(b.types[i]) * h + k] as number;
        pooled[k] = (pooled[k] as number) + v;
      }
    }
    for (let o = 0; o < h; o++) {
      let acc = bias[o] as number;
      for (let k = 0; k < h; k++) acc += ((pooled[k] as number) / Math.max(count, 1e-9)) * (weight.data[o * h + k] as number);
      out[r * h + o] = acc;
    }
  }
  return out;
}
