/**
 * The training run the resume tests repeat: a two-tower MLP (separate
 * towers), AdamW for queries and SGD with momentum for items, accumulation,
 * a linear warm-up, fc1 frozen for the first 3 steps, validation with early
 * stopping each epoch, a checkpoint every 2 steps. Shared by the in-process
 * test and the child process that is killed during a checkpoint write.
 */
import { Trainer, type FitResult } from "../../lib/training/trainer";
import type { TrainerOptions } from "../../lib/training/trainer-options";
import { MlpTwoTower, syntheticPairs } from "./mlp-two-tower";

export const TRAIN = syntheticPairs(32);
export const VALIDATION = syntheticPairs(8, 5);

export function scenarioOptions(dir: string): TrainerOptions {
  return {
    progress: false,
    seed: 11,
    maxEpochs: 2,
    batchSize: 4,
    accumulateGradBatches: 2,  // 4 steps an epoch, 8 in all
    optimizer: { kind: "adamw", lr: 0.05, weightDecay: 0.01 },
    itemsOptimizer: { kind: "sgd", lr: 0.1, momentum: 0.9 },
    schedule: { kind: "linear", warmupSteps: 2 },
    freeze: { layers: 0, untilStep: 3 },
    earlyStopping: { monitor: "val_loss", patience: 5 },
    checkpoint: { dir: `${dir}/checkpoints`, everyNSteps: 2, keepLast: 2 },
    logDir: `${dir}/logs`,
  };
}

/** A two-tower MLP whose grad-recording query encodes throw after `failAfter` calls (a crash mid-run). */
export class CrashingTwoTower extends MlpTwoTower {
  #calls = 0;
  constructor(readonly failAfter = Infinity) {
    super();
  }
  override encodeQueries(texts: readonly string[], options: { grad: boolean }) {
    if (options.grad && ++this.#calls > this.failAfter) throw new Error(`simulated crash at training call ${this.#calls}`);
    return super.encodeQueries(texts, options);
  }
}

export async function runScenario(dir: string, model: MlpTwoTower, resume = false): Promise<FitResult> {
  return new Trainer(scenarioOptions(dir)).fit(model, { train: TRAIN, validation: VALIDATION }, resume ? { resumeFrom: `${dir}/checkpoints` } : {});
}
