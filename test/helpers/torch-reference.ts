/**
 * Runs test/helpers/torch_reference.py with Debian's PyTorch (/usr/bin/python3,
 * or EMBEDDINGS_TORCH_REFERENCE_PYTHON): the independent reference for the
 * optimizer and loss parity tests.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

export const REFERENCE_PYTHON = process.env.EMBEDDINGS_TORCH_REFERENCE_PYTHON ?? "/usr/bin/python3";

/** Whether that python imports torch; the reason when it does not. */
export function torchReferenceUnavailable(): string | null {
  const probe = spawnSync(REFERENCE_PYTHON, ["-c", "import torch"], { encoding: "utf8" });
  if (probe.error) return `${REFERENCE_PYTHON}: ${probe.error.message}`;
  if (probe.status !== 0) return `${REFERENCE_PYTHON} cannot import torch: ${probe.stderr.trim().split("\n").pop() ?? ""}`;
  return null;
}

/** Sends one job, returns the parsed result; fails with python's stderr. */
export function runTorchReference<T>(job: unknown): T {
  const script = path.join(__dirname, "torch_reference.py");
  const run = spawnSync(REFERENCE_PYTHON, [script], { input: JSON.stringify(job), encoding: "utf8", maxBuffer: 1 << 28 });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`torch_reference.py failed (${run.status}):\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** Deterministic values in [-scale, scale) (mulberry32), exact in float32. */
export function seededValues(seed: number, count: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** A flat row-major array as a list of rows (the JSON python reads). */
export function rows(values: Float32Array, columns: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += columns) out.push(Array.from(values.subarray(i, i + columns)));
  return out;
}
