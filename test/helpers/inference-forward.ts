/**
 * Child process of test/unit/inference-path.test.ts: one inference forward of a
 * seeded model, printed as JSON with what served its GEMMs, so the parent can
 * compare a process started with EMBEDDINGS_TORCH_ONEDNN=0 (read once, at the
 * first forward) against its own.
 *   node -r test/helpers/register-ts.js test/helpers/inference-forward.ts <architecture> <options JSON>
 */
import { Module, runtimeInfo } from "../../lib";
import { inferenceBatch, seedWeights } from "./inference-batch";

async function main(): Promise<void> {
  const [architecture, options] = [process.argv[2] as string, JSON.parse(process.argv[3] as string) as Record<string, unknown>];
  using m = Module.create(architecture, options).eval();
  await seedWeights(m, 100);
  const inputs = inferenceBatch();
  using out = await m.forwardTensor(inputs);
  for (const t of inputs) t.dispose();
  process.stdout.write(JSON.stringify({ gemm: runtimeInfo().inferenceGemm, values: Array.from(out.toFloat32Array()) }));
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
