/**
 * Child process of test/unit/inference-path.test.ts: the inference-path
 * scenarios (inference-scenarios.ts) for one architecture under the GEMM this
 * process's EMBEDDINGS_TORCH_GEMM chooses, printed as JSON with
 * runtimeInfo().inferenceGemm.
 *   EMBEDDINGS_TORCH_GEMM=onednn node -r test/helpers/register-ts.js test/helpers/inference-forward.ts <architecture>
 */
import { runtimeInfo } from "../../lib";
import { bfloat16Scenario, rowCountScenario, staleWeightsScenario } from "./inference-scenarios";

async function main(): Promise<void> {
  const architecture = process.argv[2] as string;
  const stale = await staleWeightsScenario(architecture);
  const rows = await rowCountScenario(architecture);
  const bfloat16 = await bfloat16Scenario(architecture);
  process.stdout.write(JSON.stringify({ gemm: runtimeInfo().inferenceGemm, stale, rows, bfloat16 }));
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
