/**
 * Learning-rate schedules as pure functions of the optimizer step, so their
 * whole state is the step count (a resumed run gets the same rates without
 * saving anything else). The rate used by optimizer step `k` (0-based) is
 * `baseLr * factor(k)`, as with PyTorch's LambdaLR stepped after each
 * optimizer step.
 */
import { describe } from "../dtypes";

export type LearningRateSchedule =
  /** The base rate throughout. */
  | { readonly kind: "constant" }
  /** torch.optim.lr_scheduler.StepLR: times `gamma` every `stepSize` steps. */
  | { readonly kind: "step"; readonly stepSize: number; readonly gamma?: number }
  /**
   * transformers.get_linear_schedule_with_warmup: from 0 up to the base rate
   * over `warmupSteps`, then linearly down to 0 at `totalSteps` (default: the
   * run's total number of optimizer steps).
   */
  | { readonly kind: "linear"; readonly warmupSteps: number; readonly totalSteps?: number };

function positiveInteger(value: unknown, what: string, allowZero = false): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < (allowZero ? 0 : 1))
    throw new RangeError(`${what}: expected an integer >= ${allowZero ? 0 : 1} but received ${describe(value)}`);
  return value;
}

/** Checks a schedule description. @throws TypeError/RangeError naming the field. */
export function checkSchedule(schedule: LearningRateSchedule): LearningRateSchedule {
  if (typeof schedule !== "object" || schedule === null) throw new TypeError(`schedule: expected an object with kind but received ${describe(schedule)}`);
  switch (schedule.kind) {
    case "constant":
      return schedule;
    case "step":
      positiveInteger(schedule.stepSize, "schedule.stepSize");
      if (schedule.gamma !== undefined && !(typeof schedule.gamma === "number" && schedule.gamma > 0 && Number.isFinite(schedule.gamma)))
        throw new RangeError(`schedule.gamma: expected a finite number > 0 but received ${describe(schedule.gamma)}`);
      return schedule;
    case "linear":
      positiveInteger(schedule.warmupSteps, "schedule.warmupSteps", true);
      if (schedule.totalSteps !== undefined) positiveInteger(schedule.totalSteps, "schedule.totalSteps");
      return schedule;
    default:
      throw new RangeError(`schedule.kind: expected "constant", "step" or "linear" but received ${describe((schedule as { kind?: unknown }).kind)}`);
  }
}

/** The multiplier of the base rate at optimizer step `step` (0-based); `totalSteps` fills a linear schedule's default. */
export function learningRateFactor(schedule: LearningRateSchedule, step: number, totalSteps: number): number {
  switch (schedule.kind) {
    case "constant":
      return 1;
    case "step":
      return (schedule.gamma ?? 0.1) ** Math.floor(step / schedule.stepSize);
    case "linear": {
      const total = schedule.totalSteps ?? totalSteps;
      if (step < schedule.warmupSteps) return step / Math.max(1, schedule.warmupSteps);
      return Math.max(0, (total - step) / Math.max(1, total - schedule.warmupSteps));
    }
  }
}
