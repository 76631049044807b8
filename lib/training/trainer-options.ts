/** The Trainer's options, their defaults and their checks. */
import { describe } from "../dtypes";
import type { DistributedOptions } from "./distributed/process-group";
import type { EarlyStoppingOptions } from "./early-stopping";
import type { RankingLoss } from "./losses";
import { NON_FINITE_POLICIES, type NonFinitePolicy } from "./non-finite";
import type { ProgressMode } from "./progress";
import type { OptimizerSpec, RankingEvaluation } from "./ranking-task";
import { checkSchedule, type LearningRateSchedule } from "./schedule";

export interface FreezeOptions {
  /** Embeddings and this many first layers (fixQueryModel / fixItemModel). */
  readonly layers: number;
  /** Unfreeze from this optimizer step on (0-based count of steps taken). */
  readonly untilStep?: number;
  /** Unfreeze from this epoch on. Neither given: frozen for the whole run. */
  readonly untilEpoch?: number;
}

export interface CheckpointOptions {
  /** A new or empty folder, or, with fit(..., { resumeFrom }), the folder of the run being continued. */
  readonly dir: string;
  /** Also every this many optimizer steps (always at the end). */
  readonly everyNSteps?: number;
  /** Step folders kept. Default 2. */
  readonly keepLast?: number;
}

export interface TrainerOptions {
  /** Default 1. */
  readonly maxEpochs?: number;
  /** Stop after this many optimizer steps in all. */
  readonly maxSteps?: number;
  /**
   * "single" (default): this process trains alone. "ddp": data-parallel over the processes
   * started by `embeddings-torch launch` (or torchrun): each rank takes its share of every
   * global micro-batch of batchSize × WORLD_SIZE samples, gradients are summed over the ranks
   * (c10d Gloo) so every rank steps as one process with the global batch would; rank 0 alone
   * writes checkpoints, logs and progress. README "Data-parallel training".
   */
  readonly strategy?: "single" | "ddp";
  /** strategy "ddp": timeouts and bucket size. */
  readonly distributed?: DistributedOptions;
  /** Samples per micro-batch, per process with strategy "ddp". Default 16. */
  readonly batchSize?: number;
  /** Micro-batches per optimizer step (the loss of each is scaled by 1 / their number). Default 1. */
  readonly accumulateGradBatches?: number;
  /** Clip each optimizer's total gradient norm to this. */
  readonly gradientClipVal?: number;
  /** For fit() on a two-tower model: its RankingTask's loss, optimizers and evaluation. */
  readonly loss?: RankingLoss;
  readonly optimizer?: OptimizerSpec;
  readonly itemsOptimizer?: OptimizerSpec;
  /** Held-out sessions ranked over the catalogue at each validation, reported by slice (RankingTask.validationEnd). */
  readonly evaluation?: RankingEvaluation;
  /** Learning-rate schedule over optimizer steps. Default constant. */
  readonly schedule?: LearningRateSchedule;
  readonly earlyStopping?: EarlyStoppingOptions;
  readonly freeze?: FreezeOptions;
  /** Seeds shuffling and, before every step, libtorch's generators (dropout). Default 0. */
  readonly seed?: number;
  /** Validate every this many steps too (always at each epoch's end). */
  readonly validateEveryNSteps?: number;
  /** Validate once before the first step too (logged as step 0; early stopping ignores it). Default false. */
  readonly validateAtStart?: boolean;
  readonly checkpoint?: CheckpointOptions;
  /**
   * A NaN or infinite loss: "stop" (default) rejects fit with NonFiniteLossError
   * before that step's optimizer update and before any checkpoint of it;
   * "skip-step" drops the step's gradients (no update; the step still counts
   * toward maxSteps, is listed in FitResult.skippedSteps, not in steps) and goes on.
   * Either way a checkpoint is never written from parameters holding NaN/Inf
   * (that is NonFiniteLossError too).
   */
  readonly onNonFinite?: NonFinitePolicy;
  /** Where metrics.jsonl, metrics.csv, metrics.svg and metrics.png go. */
  readonly logDir?: string;
  /** "auto" (default): a bar on a TTY, lines otherwise; false: nothing. */
  readonly progress?: ProgressMode | "auto" | false;
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export interface ResolvedOptions extends TrainerOptions {
  readonly maxEpochs: number;
  readonly batchSize: number;
  readonly accumulateGradBatches: number;
  readonly seed: number;
  readonly schedule: LearningRateSchedule;
  readonly onNonFinite: NonFinitePolicy;
  readonly strategy: "single" | "ddp";
}

function integer(value: unknown, what: string, min: number): void {
  if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < min))
    throw new RangeError(`Trainer: ${what} must be an integer >= ${min} but received ${describe(value)}`);
}

/** Fills defaults and checks every option. @throws TypeError/RangeError naming the option. */
export function resolveOptions(options: TrainerOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) throw new TypeError(`Trainer: expected an options object but received ${describe(options)}`);
  integer(options.maxEpochs, "maxEpochs", 1);
  integer(options.maxSteps, "maxSteps", 1);
  integer(options.batchSize, "batchSize", 1);
  integer(options.accumulateGradBatches, "accumulateGradBatches", 1);
  integer(options.seed, "seed", 0);
  integer(options.validateEveryNSteps, "validateEveryNSteps", 1);
  if (options.gradientClipVal !== undefined && !(typeof options.gradientClipVal === "number" && options.gradientClipVal > 0 && Number.isFinite(options.gradientClipVal)))
    throw new RangeError(`Trainer: gradientClipVal must be a finite number > 0 but received ${describe(options.gradientClipVal)}`);
  if (options.freeze !== undefined) {
    integer(options.freeze.layers, "freeze.layers", 0);
    integer(options.freeze.untilStep, "freeze.untilStep", 0);
    integer(options.freeze.untilEpoch, "freeze.untilEpoch", 0);
  }
  if (options.checkpoint !== undefined) {
    if (typeof options.checkpoint.dir !== "string" || options.checkpoint.dir === "") throw new TypeError(`Trainer: checkpoint.dir must be a folder path but received ${describe(options.checkpoint.dir)}`);
    integer(options.checkpoint.everyNSteps, "checkpoint.everyNSteps", 1);
    integer(options.checkpoint.keepLast, "checkpoint.keepLast", 1);
  }
  if (options.validateAtStart !== undefined && typeof options.validateAtStart !== "boolean") throw new TypeError(`Trainer: validateAtStart must be a boolean but received ${describe(options.validateAtStart)}`);
  if (options.onNonFinite !== undefined && !NON_FINITE_POLICIES.includes(options.onNonFinite))
    throw new RangeError(`Trainer: onNonFinite must be "stop" or "skip-step" but received ${describe(options.onNonFinite)}`);
  if (options.strategy !== undefined && options.strategy !== "single" && options.strategy !== "ddp")
    throw new RangeError(`Trainer: strategy must be "single" or "ddp" but received ${describe(options.strategy)}`);
  if (options.distributed !== undefined) {
    if (typeof options.distributed !== "object" || options.distributed === null) throw new TypeError(`Trainer: distributed must be an object but received ${describe(options.distributed)}`);
    integer(options.distributed.timeoutMs, "distributed.timeoutMs", 1);
    integer(options.distributed.bucketBytes, "distributed.bucketBytes", 1);
    if (options.distributed.gatherAcrossRanks !== undefined && typeof options.distributed.gatherAcrossRanks !== "boolean")
      throw new TypeError(`Trainer: distributed.gatherAcrossRanks must be a boolean but received ${describe(options.distributed.gatherAcrossRanks)}`);
  }
  const progress = options.progress;
  if (progress !== undefined && progress !== false && !["auto", "bar", "lines", "silent"].includes(progress))
    throw new RangeError(`Trainer: progress must be "auto", "bar", "lines", "silent" or false but received ${describe(progress)}`);
  return {
    ...options,
    maxEpochs: options.maxEpochs ?? 1,
    batchSize: options.batchSize ?? 16,
    accumulateGradBatches: options.accumulateGradBatches ?? 1,
    seed: options.seed ?? 0,
    schedule: checkSchedule(options.schedule ?? { kind: "constant" }),
    onNonFinite: options.onNonFinite ?? "stop",
    strategy: options.strategy ?? "single",
  };
}
