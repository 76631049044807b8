/**
 * A Lightning-style Trainer: epochs of shuffled micro-batches, gradient
 * accumulation and clipping, one optimizer per configured module, a
 * learning-rate schedule stepped per optimizer step, validation with early
 * stopping, layers frozen for the first steps/epochs, train()/eval()
 * switching, per-step seeding, atomic checkpoints and exact resume. A running
 * fit owns its modules (lib/models/ownership.ts: serving calls wait for it)
 * and leaves them in eval mode however it ends.
 */
import * as path from "node:path";

import { CheckpointError, NonFiniteLossError } from "../errors";
import { manualSeed } from "../device";
import { describe } from "../dtypes";
import type { Module } from "../module";
import { claimModules } from "../models/ownership";
import { Tensor } from "../tensor";
import { backward } from "./autograd";
import { DataParallel } from "./distributed/data-parallel";
import { latestCheckpoint, readCheckpoint, restoreCheckpoint, writeCheckpoint, type TrainerState } from "./checkpoint";
import { EarlyStopping } from "./early-stopping";
import { MetricsLog, type MetricRecord } from "./metrics-log";
import { Optimizer } from "./optimizer";
import { Progress } from "./progress";
import type { TrainingPair } from "./clickstream/pairs";
import { seenInPairs } from "./clickstream/split";
import { hash32, mulberry32, permutation } from "./random";
import { RankingTask } from "./ranking-task";
import { firstNonFiniteTensor } from "./non-finite";
import { learningRateFactor } from "./schedule";
import { isEncodingModel, isTrainingModule, type EncodingModel, type TrainingModule } from "./training-module";
import { resolveOptions, type ResolvedOptions, type TrainerOptions } from "./trainer-options";

export interface FitData<B, V = B> {
  readonly train: readonly B[];
  readonly validation?: readonly V[];
}

export interface FitOptions {
  /** A checkpoint root (follows latest.json) or one step folder to continue from. */
  readonly resumeFrom?: string;
}

export interface StepRecord extends MetricRecord {
  readonly loss: number;
  readonly lr: number;
}

export interface FitResult {
  /** The optimizer steps this call took, with their mean micro-batch loss and learning rate. */
  readonly steps: readonly StepRecord[];
  readonly validations: readonly MetricRecord[];
  readonly globalStep: number;
  readonly stoppedEarly: boolean;
  /** The last checkpoint folder written, if any. */
  readonly checkpoint: string | null;
  /** Steps whose loss was NaN/Inf and that were skipped (onNonFinite: "skip-step"). */
  readonly skippedSteps: readonly number[];
}

type MutableState = { -readonly [K in keyof TrainerState]: TrainerState[K] };

export class Trainer {
  readonly options: ResolvedOptions;

  constructor(options: TrainerOptions = {}) {
    this.options = resolveOptions(options);
  }

  /**
   * Trains `model`: a TrainingModule, or a two-tower model (TextToTextBertModel...)
   * that is wrapped in a RankingTask with this trainer's loss, optimizers and
   * evaluation; then `data.train` holds TrainingPairs.
   */
  fit(model: EncodingModel, data: FitData<TrainingPair>, fitOptions?: FitOptions): Promise<FitResult>;
  fit<B, V = B>(model: TrainingModule<B, V>, data: FitData<B, V>, fitOptions?: FitOptions): Promise<FitResult>;
  async fit(model: TrainingModule<unknown, unknown> | EncodingModel, data: FitData<unknown, unknown>, fitOptions: FitOptions = {}): Promise<FitResult> {
    const o = this.options;
    if (!Array.isArray(data?.train) || data.train.length === 0) throw new TypeError(`Trainer.fit: data.train must be a non-empty array but received ${describe(data?.train)}`);
    // Data-parallel: each rank trains on its share of global batches of batchSize × world size
    // (lib/training/distributed/data-parallel.ts); rank 0 alone writes checkpoints, logs, progress.
    const parallel = o.strategy === "ddp" ? await DataParallel.join(o.distributed ?? {}) : DataParallel.single;
    const globalBatchSize = o.batchSize * parallel.worldSize;
    const task = this.#task(model, data.train, parallel);
    const validation = data.validation ?? [];
    if (o.earlyStopping && validation.length === 0) throw new RangeError("Trainer.fit: earlyStopping needs data.validation");
    if (o.freeze && (!task.freeze || !task.unfreeze)) throw new TypeError("Trainer.fit: freeze needs a model with freeze()/unfreeze() (fixQueryModel)");
    if (o.checkpoint) {
      // Another run's checkpoints would collide with this run's step numbers (and one is never rewritten in place):
      // refuse now, before any work, rather than at the first colliding step.
      const root = path.resolve(o.checkpoint.dir);
      const existing = await latestCheckpoint(root);
      const resumeFrom = fitOptions.resumeFrom === undefined ? undefined : path.resolve(fitOptions.resumeFrom);
      const continuing = resumeFrom !== undefined && (resumeFrom === root || path.dirname(resumeFrom) === root);
      if (existing !== null && !continuing)
        throw new CheckpointError(`Trainer.fit: checkpoint.dir ${o.checkpoint.dir} already holds another run's checkpoints (latest: ${existing}); continue that run with fit(..., { resumeFrom: ${JSON.stringify(o.checkpoint.dir)} }), or give checkpoint.dir a new or empty folder`);
    }
    if (task.lossIsGlobal && data.train.length % globalBatchSize > 0 && data.train.length % globalBatchSize < parallel.worldSize)
      throw new RangeError(`Trainer.fit: with distributed.gatherAcrossRanks every rank needs a share of every batch, but the last batch of each epoch holds ${data.train.length % globalBatchSize} pairs for ${parallel.worldSize} ranks; drop or add a few training pairs`);
    const batchesPerEpoch = Math.ceil(data.train.length / globalBatchSize);
    const stepsPerEpoch = Math.ceil(batchesPerEpoch / o.accumulateGradBatches);
    const totalSteps = Math.min(o.maxSteps ?? Infinity, o.maxEpochs * stepsPerEpoch);
    const modules = task.modules();
    // Serving calls on these modules wait from here until fit ends; those already running finish first.
    const claim = await claimModules(modules.values());
    // As the owner: this fit's own forwardQuery calls (a validation step's) do not wait for it.
    return claim.run(async () => {
      let optimizers: Optimizer[] = [];
      let finished = false;
      try {
        optimizers = task.configureOptimizers().map((c) => Optimizer.fromConfig(c));
        const config = { batchSize: o.batchSize, accumulateGradBatches: o.accumulateGradBatches, trainSize: data.train.length, ...(parallel.isDistributed ? { worldSize: parallel.worldSize } : {}) };
        let state: MutableState = { version: 1, globalStep: 0, epoch: 0, batchInEpoch: 0, seed: o.seed, baseLearningRates: optimizers.map((x) => x.learningRates), earlyStopping: null, stopped: false, config };
        if (fitOptions.resumeFrom !== undefined) {
          const found = await readCheckpoint(fitOptions.resumeFrom);
          if (JSON.stringify(found.state.config) !== JSON.stringify(config) || found.state.seed !== o.seed)
            throw new CheckpointError(`Trainer.fit: ${found.dir} was written with ${JSON.stringify({ ...found.state.config, seed: found.state.seed })}, this run has ${JSON.stringify({ ...config, seed: o.seed })}; resuming needs the same data, batching, seed and (data-parallel) world size`);
          await restoreCheckpoint(found.dir, modules, optimizers);
          state = { ...found.state };
        }
        await parallel.broadcast([...modules.values()]);  // every rank starts from rank 0's weights
        const resumedAt = fitOptions.resumeFrom !== undefined ? state.globalStep : -1;
        const early = o.earlyStopping ? new EarlyStopping(o.earlyStopping, state.earlyStopping) : null;
        const log = o.logDir && parallel.isRankZero ? await MetricsLog.open(o.logDir, fitOptions.resumeFrom !== undefined ? { resumeAtStep: state.globalStep } : {}) : null;
        const progress = new Progress({ total: totalSteps, start: state.globalStep, ...(o.stream ? { stream: o.stream } : {}), ...(o.progress === false || !parallel.isRankZero ? { mode: "silent" as const } : o.progress && o.progress !== "auto" ? { mode: o.progress } : {}) });
        const steps: StepRecord[] = [];
        const validations: MetricRecord[] = [];
        const skippedSteps: number[] = [];
        let checkpoint: string | null = null;
        let frozen: boolean | null = null;
        const applyFreeze = () => {
          const f = o.freeze;
          if (!f || !task.freeze || !task.unfreeze) return;
          const want = (f.untilStep === undefined || state.globalStep < f.untilStep) && (f.untilEpoch === undefined || state.epoch < f.untilEpoch);
          if (want !== frozen) (want ? task.freeze(f.layers) : task.unfreeze(), (frozen = want));
        };
        const save = async () => {
          if (!o.checkpoint || state.globalStep === resumedAt) return;
          const bad = firstNonFiniteTensor(modules);
          if (bad !== null) {
            const last = steps[steps.length - 1];
            throw new NonFiniteLossError(`Trainer.fit: after step ${state.globalStep} (epoch ${state.epoch}) the parameter ${bad} holds NaN or Infinity (the step's loss was ${last?.loss ?? "not computed"}); stopped before writing its checkpoint. Lower the learning rate or clip gradients (gradientClipVal)`, { step: state.globalStep, epoch: state.epoch, loss: last?.loss ?? Number.NaN });
          }
          if (!parallel.isRankZero) return;
          state.earlyStopping = early ? { best: early.best, badValidations: early.badValidations } : null;
          checkpoint = await writeCheckpoint(o.checkpoint.dir, { modules, optimizers, state: { ...state } }, o.checkpoint.keepLast ?? 2);
        };
        const validate = async (): Promise<Record<string, number>> => {
          const measured = await this.#validate(task, modules, validation, parallel);
          const metrics: MetricRecord = { step: state.globalStep, epoch: state.epoch, ...measured };
          validations.push(metrics);
          await log?.append(metrics);
          progress.log(`validation at step ${state.globalStep}: ${Object.entries(metrics).filter(([k]) => k !== "step" && k !== "epoch").map(([k, v]) => `${k} ${v.toFixed(4)}`).join(", ")}`);
          return measured;
        };
        for (const m of modules.values()) m.train();
        // The untrained model's numbers start the curves (not an early-stopping step: nothing was trained yet).
        if (o.validateAtStart && validation.length > 0 && fitOptions.resumeFrom === undefined) await validate();
        while (!state.stopped && state.epoch < o.maxEpochs && state.globalStep < totalSteps) {
          const order = permutation(data.train.length, mulberry32(hash32(o.seed, state.epoch)));
          while (state.batchInEpoch < batchesPerEpoch && state.globalStep < totalSteps) {
            const first = state.batchInEpoch;
            const last = Math.min(first + o.accumulateGradBatches, batchesPerEpoch);
            applyFreeze();
            manualSeed((hash32(o.seed, state.globalStep + 0x51ed) + parallel.rank) >>> 0);  // dropout masks depend on the step (and rank) only: resume reproduces them
            const factor = learningRateFactor(o.schedule, state.globalStep, totalSteps);
            optimizers.forEach((opt, i) => state.baseLearningRates[i]?.forEach((base, g) => opt.setLearningRate(base * factor, g)));
            for (const opt of optimizers) opt.zeroGrad();
            let loss = 0;
            for (let b = first; b < last && Number.isFinite(loss); b++) {
              // This rank's share of the global micro-batch, its mean loss weighted by the share's size.
              const share = parallel.share(order.slice(b * globalBatchSize, (b + 1) * globalBatchSize));
              if (share.items.length === 0) continue;  // a short last batch: nothing here, zeros in the gradient sum
              const value = await task.trainingStep(share.items.map((i) => data.train[i]), b);
              if (!(value instanceof Tensor)) throw new TypeError(`Trainer.fit: trainingStep must resolve with a loss Tensor but gave ${describe(value)}`);
              try {
                // A global loss (gathered rows) is the same on every rank: each backpropagates all of it into its own
                // rows, and the rank sum of the reported 1/N parts is it once.
                const weight = task.lossIsGlobal ? 1 : share.weight;
                const scale = weight / (last - first);
                loss += ((value.toFloat32Array()[0] as number) * (task.lossIsGlobal ? 1 / parallel.worldSize : weight)) / (last - first);  // one process: weight 1, as before
                if (Number.isFinite(loss)) await backward(value, { scale });
              } finally {
                value.dispose();
              }
            }
            loss = await parallel.sumLoss(loss);  // NaN on one rank: NaN on all, so all skip or stop alike
            const finite = Number.isFinite(loss);
            if (finite) await parallel.syncGradients([...modules.values()]);
            if (!finite) {
              const where = { step: state.globalStep + 1, epoch: state.epoch, loss };
              if (o.onNonFinite === "stop")
                throw new NonFiniteLossError(`Trainer.fit: the loss of step ${where.step} (epoch ${where.epoch}) is ${loss}; stopped before its optimizer update and before any checkpoint of it (the last checkpoint holds step ${state.globalStep} or earlier). Lower the learning rate, clip gradients (gradientClipVal), or pass onNonFinite: "skip-step"`, where);
              for (const opt of optimizers) opt.zeroGrad();  // "skip-step": no update from this step's gradients
              skippedSteps.push(where.step);
              progress.log(`step ${where.step} skipped: its loss is ${loss}`);
            }
            let squaredNorm: number | null = null;
            for (const opt of finite ? optimizers : []) {
              const r = await opt.step(o.gradientClipVal !== undefined ? { maxGradNorm: o.gradientClipVal } : {});
              if (r.gradNorm !== null) squaredNorm = (squaredNorm ?? 0) + r.gradNorm ** 2;
            }
            state.globalStep++;
            state.batchInEpoch = last;
            if (finite) {
              const record: StepRecord = { step: state.globalStep, epoch: state.epoch, loss, lr: optimizers[0]?.learningRates[0] ?? 0, ...(squaredNorm !== null ? { gradNorm: Math.sqrt(squaredNorm) } : {}) };
              steps.push(record);
              await log?.append(record);
              progress.update(record);
            }
            const epochDone = state.batchInEpoch >= batchesPerEpoch;
            if (validation.length > 0 && (epochDone || (o.validateEveryNSteps !== undefined && state.globalStep % o.validateEveryNSteps === 0))) {
              const measured = await validate();  // not inside early?.update(...): without early stopping that would skip it
              if (early?.update(measured)) state.stopped = true;
            }
            if (epochDone) (state.epoch += 1), (state.batchInEpoch = 0);
            const end = state.stopped || state.globalStep >= totalSteps || state.epoch >= o.maxEpochs;
            if (o.checkpoint && (end || (o.checkpoint.everyNSteps !== undefined && state.globalStep % o.checkpoint.everyNSteps === 0))) await save();
            if (state.stopped || epochDone) break;  // a new epoch needs a new order
          }
        }
        progress.done();
        await log?.flush();
        finished = true;
        return { steps, validations, globalStep: state.globalStep, stoppedEarly: state.stopped, checkpoint, skippedSteps };
      } finally {
        for (const opt of optimizers) opt.dispose();
        // Eval mode on every exit path (success, error, early stop, NaN stop); an error here
        // surfaces only when fit had none of its own.
        let evalError: unknown = null;
        for (const m of modules.values()) {
          try {
            if (!m.isDisposed) m.eval();
          } catch (error) {
            evalError ??= error;
          }
        }
        claim.release();
        if (finished && evalError !== null) throw evalError;  // eslint-disable-line no-unsafe-finally
      }
    });
  }

  /** The model's task; a two-tower model's evaluation learns what training saw from the pairs unless told. */
  #task(model: TrainingModule<unknown, unknown> | EncodingModel, train: readonly unknown[], parallel: DataParallel): TrainingModule<unknown, unknown> {
    if (isTrainingModule(model)) return model;
    if (isEncodingModel(model)) {
      const o = this.options;
      const evaluation = o.evaluation && o.evaluation.train === undefined ? { ...o.evaluation, train: seenInPairs(train as readonly TrainingPair[]) } : o.evaluation;
      return new RankingTask(model, {
        ...(o.loss ? { loss: o.loss } : {}),
        ...(o.optimizer ? { optimizer: o.optimizer } : {}),
        ...(o.itemsOptimizer ? { itemsOptimizer: o.itemsOptimizer } : {}),
        ...(evaluation ? { evaluation } : {}),
        ...(parallel.isDistributed && o.distributed?.gatherAcrossRanks ? { gatherRows: (rows: Tensor) => parallel.gatherRows(rows) } : {}),
      });
    }
    throw new TypeError(`Trainer.fit: model must be a TrainingModule (trainingStep, configureOptimizers, modules) or a two-tower model (encodeQueries, encodeItems, getQueryModel...) but received ${describe(model)}`);
  }

  /** Mean validationStep metrics (weighted by batch size) and validationEnd's, in eval mode. */
  async #validate(task: TrainingModule<unknown, unknown>, modules: ReadonlyMap<string, Module>, validation: readonly unknown[], parallel: DataParallel): Promise<Record<string, number>> {
    for (const m of modules.values()) m.eval();
    try {
      let sums: Record<string, number> = {};
      if (task.validationStep) {
        // Data-parallel: each rank validates its share and the sums are added up (every rank
        // validates all of a set smaller than the world, and nothing is summed).
        const sharded = validation.length >= parallel.worldSize;
        const mine = sharded ? parallel.share(validation).items : validation;
        for (let b = 0; b * this.options.batchSize < mine.length; b++) {
          const batch = mine.slice(b * this.options.batchSize, (b + 1) * this.options.batchSize);
          const metrics = await task.validationStep(batch, b);
          for (const [k, v] of Object.entries(metrics)) sums[k] = (sums[k] ?? 0) + v * batch.length;
        }
        if (sharded) sums = await parallel.sumRecord(sums);
      }
      // validationEnd (a ranking evaluation) runs on every rank: same weights, same result.
      const means = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / validation.length]));
      return { ...means, ...(task.validationEnd ? await task.validationEnd() : {}) };
    } finally {
      for (const m of modules.values()) m.train();
    }
  }
}
