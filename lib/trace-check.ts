/**
 * Checks a traced module against the module it came from, on the example and
 * on inputs of other batch sizes and sequence lengths: a trace freezes every
 * size that forward read as a C++ integer, and such a file fails (or computes
 * garbage) on the shapes Triton will send it. The comparison also tells which
 * output dimensions follow the batch and the length (for config.pbtxt).
 */
import { DTYPE_SIZE, type DType } from "./dtypes";
import { TraceError, UnsupportedError } from "./errors";
import type { Module, ModuleOutput } from "./module";
import { Tensor } from "./tensor";
import type { OrderedInputs } from "./trace";

/** One output tensor of the traced forward, as the checks saw it. */
export interface OutputSpec {
  readonly dtype: DType;
  /** Its shape on the example inputs. */
  readonly shape: readonly number[];
  /** Dimensions (≥ 1) whose size changed with the inputs' variable dimensions. */
  readonly variableDims: readonly number[];
  /** Whether dimension 0 was the batch size in every variant. */
  readonly batchMajor: boolean;
}

export interface CheckTraceOptions {
  /** Per input name, the dimensions (≥ 1) that may vary, e.g. 1 for the length of input_ids [B, L]. */
  readonly variableDims: ReadonlyMap<string, readonly number[]>;
  /** Allowed |traced - eager| is atol + rtol * |eager|. Defaults 1e-5 and 1e-4. */
  readonly atol?: number;
  readonly rtol?: number;
}

interface Variant {
  readonly label: string;
  readonly batch: number;
  readonly inputs: Record<string, Tensor>;
}

/**
 * Runs `eager` and `traced` on the example, on batch B+1 (rows repeated) and
 * on batch 1 with every variable dimension one shorter, and compares every
 * output tensor.
 * @returns the traced outputs' specs.
 * @throws TraceError naming the variant and output when they differ or the
 *   traced module fails; UnsupportedError when forward returns something
 *   other than a tensor or a tuple of tensors.
 */
export async function checkTrace(eager: Module, traced: Module, inputs: OrderedInputs, options: CheckTraceOptions): Promise<OutputSpec[]> {
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-4;
  const variants = makeVariants(inputs, options.variableDims);
  const specs: { dtype: DType; shape: number[]; variable: Set<number>; batchMajor: boolean }[] = [];
  try {
    for (const variant of variants) {
      let expected: Tensor[];
      try {
        expected = outputTensors(await eager.forward(variant.inputs), "the module");
      } catch (error) {
        // The example is what the caller chose; another shape failing in the module itself
        // means a TorchScript module whose own trace froze the example's sizes.
        if (variant === variants[0] || error instanceof UnsupportedError) throw error;
        throw new TraceError(`the module itself fails on ${variant.label} (${describeShapes(variant.inputs)}): ${error instanceof Error ? error.message : String(error)}; a traced TorchScript module only accepts the shapes its trace did not freeze`);
      }
      let got: Tensor[];
      try {
        got = outputTensors(await traced.forward(variant.inputs), "the traced module");
      } catch (error) {
        dispose(expected);
        if (error instanceof UnsupportedError) throw error;
        throw new TraceError(`the traced module fails on ${variant.label} (${describeShapes(variant.inputs)}): ${error instanceof Error ? error.message : String(error)}; ${FROZEN_SIZE_HINT}`);
      }
      try {
        if (got.length !== expected.length) throw new TraceError(`the traced module returns ${got.length} tensors on ${variant.label} but the module returns ${expected.length}`);
        got.forEach((g, i) => {
          const e = expected[i] as Tensor;
          const where = `output ${i} on ${variant.label} (${describeShapes(variant.inputs)})`;
          if (g.dtype !== e.dtype) throw new TraceError(`${where}: traced dtype ${g.dtype}, module ${e.dtype}`);
          if (!sameShape(g.shape, e.shape)) throw new TraceError(`${where}: traced shape [${g.shape.join(", ")}], module [${e.shape.join(", ")}]; ${FROZEN_SIZE_HINT}`);
          const diff = maxExcess(g.toFloat32Array(), e.toFloat32Array(), atol, rtol);
          if (diff !== undefined) throw new TraceError(`${where}: traced value differs from the module's by ${diff.abs} at element ${diff.index} (allowed ${atol} + ${rtol}·|value|); ${FROZEN_SIZE_HINT}`);
          const spec = specs[i];
          if (spec === undefined) specs.push({ dtype: g.dtype, shape: [...g.shape], variable: new Set(), batchMajor: g.shape[0] === variant.batch });
          else {
            if (g.shape[0] !== variant.batch) spec.batchMajor = false;
            for (let d = 1; d < g.shape.length; d++) if (g.shape[d] !== spec.shape[d]) spec.variable.add(d);
          }
        });
      } finally {
        dispose(got);
        dispose(expected);
      }
    }
  } finally {
    for (const variant of variants.slice(1)) dispose(Object.values(variant.inputs));
  }
  return specs.map((s) => ({ dtype: s.dtype, shape: s.shape, variableDims: [...s.variable].sort((a, b) => a - b), batchMajor: s.batchMajor }));
}

const FROZEN_SIZE_HINT =
  "forward probably reads a size as a C++ integer (x.size(0) into view/reshape/arange), which the tracer records as a constant; use -1, flatten/unflatten or cumsum over a [B, L] tensor instead (native/trace.h)";

/** The tensors Triton's pytorch backend can return: one tensor or a tuple/list of them. */
export function outputTensors(output: ModuleOutput, what: string): Tensor[] {
  if (output instanceof Tensor) return [output];
  if (Array.isArray(output) && output.every((o: ModuleOutput) => o instanceof Tensor)) return output as Tensor[];
  const kind = output === null ? "None" : Array.isArray(output) ? "a nested tuple" : typeof output === "number" ? "a number" : "a dict";
  throw new UnsupportedError(`${what} returns ${kind}; Triton's pytorch_libtorch backend serves a tensor or a tuple of tensors`);
}

function makeVariants(inputs: OrderedInputs, variableDims: ReadonlyMap<string, readonly number[]>): Variant[] {
  const example: Record<string, Tensor> = {};
  inputs.names.forEach((name, i) => (example[name] = inputs.tensors[i] as Tensor));
  const first = inputs.tensors[0] as Tensor;
  const batch = first.shape[0] ?? 0;
  const variants: Variant[] = [{ label: `the example (batch ${batch})`, batch, inputs: example }];
  const rows = [...Array(batch).keys(), 0];  // B + 1 rows: the example's, then its first again
  variants.push({ label: `batch ${batch + 1}`, batch: batch + 1, inputs: mapInputs(inputs, (t) => gatherHost(t, rows, new Map())) });
  let shortened = false;
  const short = mapInputs(inputs, (t, name) => {
    const lengths = new Map<number, number>();
    for (const d of variableDims.get(name) ?? []) {
      const size = t.shape[d] ?? 0;
      if (size >= 2) {
        lengths.set(d, size - 1);
        shortened = true;
      }
    }
    return gatherHost(t, [batch - 1], lengths);
  });
  variants.push({ label: shortened ? "batch 1 with one position less" : "batch 1", batch: 1, inputs: short });
  return variants;
}

function mapInputs(inputs: OrderedInputs, fn: (t: Tensor, name: string) => Tensor): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  inputs.names.forEach((name, i) => (out[name] = fn(inputs.tensors[i] as Tensor, name)));
  return out;
}

/**
 * A new tensor (same dtype and device) of `rows` of `t` along dimension 0,
 * each dimension in `lengths` cut to its first `length` entries. Host copies:
 * example inputs are small.
 */
function gatherHost(t: Tensor, rows: readonly number[], lengths: ReadonlyMap<number, number>): Tensor {
  const shape = t.shape;
  if (shape.length === 0) throw new RangeError("an example input of shape [] has no batch dimension");
  const out = shape.map((d, i) => (i === 0 ? rows.length : lengths.get(i) ?? d));
  const data = t.data();
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const size = DTYPE_SIZE[t.dtype];
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  // Copy runs along the last dimension (cut ones keep their first entries, so a run is contiguous).
  const outerRank = Math.max(1, out.length - 1);
  const run = out.length === 1 ? 1 : (out[out.length - 1] as number);
  const outerCount = out.slice(0, outerRank).reduce((a, b) => a * b, 1);
  const result = new Uint8Array(outerCount * run * size);
  const index = new Array<number>(outerRank).fill(0);
  for (let k = 0; k < outerCount; k++) {
    let source = (rows[index[0] as number] as number) * (strides[0] as number);
    for (let d = 1; d < outerRank; d++) source += (index[d] as number) * (strides[d] as number);
    result.set(bytes.subarray(source * size, (source + run) * size), k * run * size);
    for (let d = outerRank - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (out[d] as number)) break;
      index[d] = 0;
    }
  }
  return Tensor.from(result, out, { dtype: t.dtype, device: t.device });
}

function maxExcess(got: Float32Array, expected: Float32Array, atol: number, rtol: number): { abs: number; index: number } | undefined {
  let worst: { abs: number; index: number } | undefined;
  let worstExcess = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(g) && Number.isNaN(e)) continue;
    const abs = Math.abs(g - e);
    const excess = Number.isNaN(abs) ? Infinity : abs - (atol + rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = { abs, index: i };
    }
  }
  return worst;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function describeShapes(inputs: Readonly<Record<string, Tensor>>): string {
  return Object.entries(inputs)
    .map(([name, t]) => `${name} [${t.shape.join(", ")}]`)
    .join(", ");
}

function dispose(tensors: readonly Tensor[]): void {
  for (const t of tensors) t.dispose();
}
