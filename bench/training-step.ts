/**
 * Training steps per second, this package vs PyTorch eager (/usr/bin/python3):
 * an MLP two-tower-style step (three forwards with grad, cosine margin loss,
 * backward, AdamW) on the same sizes and thread count. Not run by the tests.
 *
 *   node -r ./test/helpers/register-ts.js bench/training-step.ts [steps] [batch]
 *
 * The BERT-base step on CUDA is in bench/gpu.ts.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

import { getNumThreads, manualSeed, Module, Tensor } from "../lib";
import { backward } from "../lib/training/autograd";
import { rankingLoss } from "../lib/training/losses";
import { Optimizer } from "../lib/training/optimizer";

const STEPS = Number(process.argv[2] ?? 200);
const BATCH = Number(process.argv[3] ?? 64);
const [IN, HIDDEN, OUT] = [256, 512, 128];

async function ours(): Promise<number> {
  manualSeed(0);
  using mlp = Module.create("mlp", { in_features: IN, hidden_features: HIDDEN, out_features: OUT });
  using opt = Optimizer.adamw(mlp, { lr: 1e-3 });
  const inputs = [0, 1, 2].map((s) => Tensor.from(Float32Array.from({ length: BATCH * IN }, (_, i) => Math.sin(i * (s + 1))), [BATCH, IN]));
  const step = async () => {
    opt.zeroGrad();
    using q = await mlp.forwardTensor([inputs[0]!], { grad: true });
    using p = await mlp.forwardTensor([inputs[1]!], { grad: true });
    using n = await mlp.forwardTensor([inputs[2]!], { grad: true });
    using loss = await rankingLoss({ kind: "cosine_margin" }, { query: q, positive: p, negative: n });
    await backward(loss);
    await opt.step();
    return loss.toFloat32Array()[0];
  };
  for (let i = 0; i < 10; i++) await step();
  const start = process.hrtime.bigint();
  for (let i = 0; i < STEPS; i++) await step();
  return STEPS / (Number(process.hrtime.bigint() - start) / 1e9);
}

function pytorch(threads: number): number {
  const run = spawnSync("/usr/bin/python3", [path.join(__dirname, "training_step.py"), ...[STEPS, BATCH, IN, HIDDEN, OUT, threads].map(String)], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`training_step.py failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { steps_per_second: number }).steps_per_second;
}

void (async () => {
  const threads = getNumThreads();
  const a = await ours();
  const b = pytorch(threads);
  process.stdout.write(`MLP ${IN}-${HIDDEN}-${OUT}, batch ${BATCH}, ${threads} thread(s), ${STEPS} steps\n`);
  process.stdout.write(`  embeddings-torch: ${a.toFixed(1)} steps/s\n  PyTorch eager:    ${b.toFixed(1)} steps/s\n  ratio:            ${(a / b).toFixed(2)}\n`);
})();
