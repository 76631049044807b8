/** The training-step rows of bench/gpu.ts: 3 forwards of 32 x 64 with a margin loss, backward, AdamW. */
import { Module, type Tensor } from "../lib";
import { backward } from "../lib/training/autograd";
import { rankingLoss } from "../lib/training/losses";
import { Optimizer } from "../lib/training/optimizer";

type Ids = (batch: number, length: number) => { input_ids: Tensor; attention_mask: Tensor };
type Timer = (fn: () => Promise<void>, iters: number, warmup?: number) => Promise<number>;

async function stepTime(module: Module, ids: Ids, timed: Timer): Promise<number> {
  module.train();
  using optimizer = Optimizer.adamw(module, { lr: 1e-5 });
  // Three forwards of 32 x 64 (the same ids: timing does not depend on the values).
  const batch = ids(32, 64);
  const step = async () => {
    optimizer.zeroGrad();
    const q = await module.forwardTensor(batch, { grad: true });
    const p = await module.forwardTensor(batch, { grad: true });
    const n = await module.forwardTensor(batch, { grad: true });
    using loss = await rankingLoss({ kind: "cosine_margin", margin: 0.2 }, { query: q, positive: p, negative: n });
    await backward(loss);
    await optimizer.step();
    q.dispose();
    p.dispose();
    n.dispose();
  };
  const ms = await timed(step, 10);
  module.eval();
  return ms;
}

export async function trainStepTimer(model: Module, weights: string, config: Record<string, unknown>, ids: Ids, timed: Timer): Promise<Record<string, number>> {
  const train_fp32_ms = await stepTime(model, ids, timed);
  const bf16 = Module.create("bert", { ...config, pooling: "pooler" } as unknown as Record<string, number | string | boolean>);
  try {
    await bf16.loadStateDict(weights);
    bf16.to("cuda").to("bfloat16");
    const train_bf16_ms = await stepTime(bf16, ids, timed);
    return { train_fp32_ms, train_bf16_ms };
  } finally {
    bf16.dispose();
  }
}
