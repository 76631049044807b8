/**
 * sentence-transformers' Dense and Normalize on the host, in float64:
 * `activation(x W^T + b)` with the weights of `<path>/model.safetensors`
 * (`linear.weight` [out, in], `linear.bias` [out]), and the L2
 * normalisation of each row (torch.nn.functional.normalize: x / max(|x|, 1e-12)).
 */
import * as path from "node:path";

import { CheckpointError } from "../../errors";
import { readSafetensors, type SafetensorsEntry } from "../../hub/safetensors";
import type { DenseActivation, DenseStage } from "./config";

export interface DenseWeights {
  readonly stage: DenseStage;
  /** [out, in] row-major. */
  readonly weight: Float32Array;
  readonly bias: Float32Array | undefined;
}

function floats(entry: SafetensorsEntry | undefined, key: string, shape: readonly number[], file: string): Float32Array {
  if (entry === undefined) throw new CheckpointError(`${file}: no tensor ${key}`);
  if (entry.dtype !== "float32" || entry.shape.join(",") !== shape.join(","))
    throw new CheckpointError(`${file}: ${key} must be float32 [${shape.join(", ")}] (config.json) but is ${entry.dtype} [${entry.shape.join(", ")}]`);
  return new Float32Array(new Uint8Array(entry.bytes).buffer);  // a copy: entry bytes are an unaligned view of the file
}

/** Reads a Dense module's weights. @throws CheckpointError naming the file, key, expected and found shapes. */
export async function readDenseWeights(root: string, stage: DenseStage): Promise<DenseWeights> {
  const file = path.join(root, stage.path, "model.safetensors");
  const parsed = await readSafetensors(file);
  const weight = floats(parsed.tensors.get("linear.weight"), "linear.weight", [stage.outFeatures, stage.inFeatures], file);
  const bias = stage.bias ? floats(parsed.tensors.get("linear.bias"), "linear.bias", [stage.outFeatures], file) : undefined;
  return { stage, weight, bias };
}

const ACTIVATIONS: Readonly<Record<DenseActivation, (x: number) => number>> = {
  tanh: Math.tanh,
  identity: (x) => x,
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
};

/** [rows, in] -> [rows, out]. */
export function applyDense(input: Float64Array, rows: number, dense: DenseWeights): Float64Array {
  const { inFeatures, outFeatures, activation } = dense.stage;
  const act = ACTIVATIONS[activation];
  const out = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let sum = dense.bias === undefined ? 0 : (dense.bias[o] as number);
      for (let i = 0; i < inFeatures; i++) sum += (dense.weight[o * inFeatures + i] as number) * (input[r * inFeatures + i] as number);
      out[r * outFeatures + o] = act(sum);
    }
  }
  return out;
}

/** Each row divided by max(its L2 norm, 1e-12), in place. */
export function normalizeRows(values: Float64Array, rows: number): Float64Array {
  const width = values.length / rows;
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let i = 0; i < width; i++) norm += (values[r * width + i] as number) ** 2;
    const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let i = 0; i < width; i++) values[r * width + i] = (values[r * width + i] as number) * scale;
  }
  return values;
}
