/**
 * Child process of test/unit/inference-path.test.ts: the inference-path
 * scenarios (inference-scenarios.ts) for one architecture under the GEMM and
 * attention this process's EMBEDDINGS_TORCH_GEMM and EMBEDDINGS_TORCH_ATTENTION
 * choose, printed as JSON with runtimeInfo().inferenceGemm and inferenceAttention.
 *   EMBEDDINGS_TORCH_GEMM=onednn node -r test/helpers/register-ts.js test/helpers/inference-forward.ts <architecture>
 */
import { runtimeInfo } from "../../lib";
import { attentionScenario, bfloat16Scenario, rowCountScenario, staleWeightsScenario } from "./inference-scenarios";

async function main(): Promise<void> {
  const architecture = process.argv[2] as string;
  const stale = await staleWeightsScenario(architecture);
  const rows = await rowCountScenario(architecture);
  const bfloat16 = await bfloat16Scenario(architecture);
  const attention = await attentionScenario(architecture);
  const info = runtimeInfo();
  process.stdout.write(JSON.stringify({ gemm: info.inferenceGemm, attentionPath: info.inferenceAttention, stale, rows, bfloat16, attention }));
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
