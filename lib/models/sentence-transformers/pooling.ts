/**
 * sentence-transformers' Pooling on the host: token states [B, L, H] and the
 * attention mask [B, L] to one vector per text, [B, H x modes], accumulated in
 * float64. The definitions follow sentence-transformers' `Pooling` (read from
 * its source, sentence_transformers/.../pooling.py): cls is the first real
 * token, max the element-wise max over real tokens, mean their mean,
 * mean_sqrt_len_tokens their sum over sqrt(count), weightedmean weights the
 * token at (absolute, 0-based) position p by p + 1, lasttoken is the last real
 * token (zeros when there is none); several modes are concatenated in the
 * order of POOLING_MODES.
 */
import type { PoolingMode } from "./config";

export interface TokenStates {
  /** [batch, length, hidden] row-major. */
  readonly data: Float32Array;
  readonly batch: number;
  readonly length: number;
  readonly hidden: number;
}

/**
 * The mask pooling uses: the attention mask with each row's first
 * `promptTokens` real tokens cleared (include_prompt false; the count
 * includes the leading special token, as sentence-transformers counts it).
 */
export function poolingMask(attentionMask: BigInt64Array, batch: number, length: number, promptTokens: number): Uint8Array {
  const mask = new Uint8Array(batch * length);
  for (let b = 0; b < batch; b++) {
    let skipped = 0;
    for (let t = 0; t < length; t++) {
      const real = attentionMask[b * length + t] !== 0n;
      if (real && skipped < promptTokens) skipped++;
      else mask[b * length + t] = real ? 1 : 0;
    }
  }
  return mask;
}

/** Pools with each of `modes`, concatenated: Float64Array [batch, hidden x modes.length]. */
export function pool(states: TokenStates, mask: Uint8Array, modes: readonly PoolingMode[]): Float64Array {
  const { data, batch, length, hidden } = states;
  const width = hidden * modes.length;
  const out = new Float64Array(batch * width);
  const at = (b: number, t: number, h: number) => data[(b * length + t) * hidden + h] as number;
  for (let b = 0; b < batch; b++) {
    const real: number[] = [];
    for (let t = 0; t < length; t++) if (mask[b * length + t] === 1) real.push(t);
    modes.forEach((mode, m) => {
      const base = b * width + m * hidden;
      for (let h = 0; h < hidden; h++) {
        let value: number;
        switch (mode) {
          case "cls":  // the first real token; position 0 when none (the argmax of an all-zero mask)
            value = at(b, real[0] ?? 0, h);
            break;
          case "lasttoken":
            value = real.length === 0 ? 0 : at(b, real[real.length - 1] as number, h);
            break;
          case "max": {
            value = -Infinity;
            for (const t of real) value = Math.max(value, at(b, t, h));
            break;
          }
          case "mean":
          case "mean_sqrt_len_tokens": {
            let sum = 0;
            for (const t of real) sum += at(b, t, h);
            const count = Math.max(real.length, 1e-9);
            value = mode === "mean" ? sum / count : sum / Math.sqrt(count);
            break;
          }
          case "weightedmean": {
            let sum = 0;
            let weights = 0;
            for (const t of real) {
              sum += (t + 1) * at(b, t, h);
              weights += t + 1;
            }
            value = sum / Math.max(weights, 1e-9);
            break;
          }
        }
        out[base + h] = value;
      }
    });
  }
  return out;
}
