/**
 * Child process of test/unit/inference-path.test.ts: query-sized forwards (at
 * most 128 rows) on two intra-op threads, where each packed product is split by
 * column blocks across a partner thread (native/small_forward.h), against the
 * same forwards on one thread (not split) and the exact per-op path.
 *
 * The process starts on one thread and forwards first, so the compute
 * thread's OpenMP team exists before setNumThreads(2) must reach it, and the
 * partner is created by the first split forward. Widths 200 (query/key/value
 * 600) and 328 leave a partial last block in oneDNN's packed layout (64
 * columns). Prints JSON: the largest differences relative to the largest
 * value, bfloat16's cosine to float32, and how many forwards ran split.
 *   node -r ./test/helpers/register-ts.js test/helpers/small-forward.ts <architecture>
 */
import * as os from "node:os";
import { Module, runtimeInfo, setNumThreads, Tensor } from "../../lib";
import { maxRelDiff } from "./fixtures";
import { ARCHITECTURES, bfloat16Scenario, inferenceBatch, rowCountShapes, seedWeights, type Options } from "./inference-scenarios";

async function outputs(m: Module, inputs: Tensor[], grad = false): Promise<Float32Array> {
  using out = await m.forwardTensor(inputs, { grad });
  return out.toFloat32Array();
}

async function main(): Promise<void> {
  const architecture = process.argv[2] as string;
  const wide: Options = { ...(ARCHITECTURES[architecture] as Options), hidden_size: 200, num_attention_heads: 4, intermediate_size: 328 };
  const rows = (lengths: number[]) => lengths.length * Math.max(...lengths);
  const shapes = rowCountShapes().filter((lengths) => rows(lengths) <= 280);  // 1..70, 120 and 280 rows
  const eligible = shapes.filter((lengths) => rows(lengths) <= 128).length;  // SmallForwardScope::kMaxRows
  const batches = shapes.map((lengths, i) => inferenceBatch(i, lengths));
  using m = Module.create(architecture, wide).eval();
  await seedWeights(m, 300);
  setNumThreads(1);
  const single: Float32Array[] = [];
  const exact: Float32Array[] = [];
  for (const inputs of batches) {
    single.push(await outputs(m, inputs));
    exact.push(await outputs(m, inputs, true));
  }
  const atOneThread = runtimeInfo().splitForwards ?? 0;
  setNumThreads(2);
  let vsSingle = 0;
  let vsExact = 0;
  for (let start = 0; start < batches.length; start += 10) {  // ten at a time, as a service's queries
    const split = await Promise.all(batches.slice(start, start + 10).map((inputs) => outputs(m, inputs)));
    split.forEach((out, i) => {
      vsSingle = Math.max(vsSingle, maxRelDiff(out, single[start + i] as Float32Array));
      vsExact = Math.max(vsExact, maxRelDiff(out, exact[start + i] as Float32Array));
    });
  }
  const split = (runtimeInfo().splitForwards ?? 0) - atOneThread;
  for (const inputs of batches) for (const t of inputs) t.dispose();
  const bfloat16 = await bfloat16Scenario(architecture, wide);
  process.stdout.write(JSON.stringify({ cpus: os.availableParallelism(), batches: batches.length, eligible, atOneThread, split, vsSingle, vsExact, bfloat16 }));
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
