/**
 * Error classes. Native failures arrive as `Error`s with a `code`
 * (native/errors.h); {@link fromNative} turns them into these classes, made
 * on the JS thread so their stacks name the JS callers (which the thread that
 * failed cannot know).
 */

/** Stable error codes, shared with native/errors.h. */
export type ErrorCode =
  | "ERR_TORCH"
  | "ERR_SHAPE"
  | "ERR_DEVICE"
  | "ERR_CHECKPOINT"
  | "ERR_DISPOSED"
  | "ERR_BUSY"
  | "ERR_ADDON_LOAD"
  | "ERR_UNSUPPORTED"
  | "ERR_TRACE"
  | "ERR_DEPLOYED"
  | "ERR_HUB"
  | "ERR_HUB_OFFLINE"
  | "ERR_REPOSITORY"
  | "ERR_NON_FINITE"
  | "ERR_DISTRIBUTED";

/** A failure inside libtorch or the addon. */
export class TorchError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode = "ERR_TORCH") {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Tensor sizes or rank do not fit the operation. */
export class ShapeError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_SHAPE");
  }
}

/** The device asked for does not exist, or tensors sit on different devices. */
export class DeviceError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_DEVICE");
  }
}

/** A checkpoint file or folder is missing, corrupt, or does not fit the model. */
export class CheckpointError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_CHECKPOINT");
  }
}

/** A tensor or module was used after dispose(). */
export class DisposedError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_DISPOSED");
  }
}

/** A module was changed (dispose, to, train) while a call on it was in flight. */
export class BusyError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_BUSY");
  }
}

/** The native addon (or the libtorch it needs) could not be loaded. */
export class AddonLoadError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_ADDON_LOAD");
  }
}

/** A file uses something this libtorch or this package does not support. */
export class UnsupportedError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_UNSUPPORTED");
  }
}

/**
 * A traced module does not compute what the module computes: it failed or
 * differed on another batch size or sequence length than the example's
 * (forward read a size as a C++ integer, which the tracer freezes).
 */
export class TraceError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_TRACE");
  }
}

/** A Triton model version (or the config.pbtxt other versions use) exists and `overwrite` was not set. */
export class DeployedVersionError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_DEPLOYED");
  }
}

/** A Triton model repository path cannot be created, read or written (not a folder, name too long, no permission); names the path. */
export class RepositoryError extends TorchError {
  constructor(message: string) {
    super(message, "ERR_REPOSITORY");
  }
}

/**
 * A model id could not be resolved through the Hugging Face Hub or its cache:
 * `ERR_HUB_OFFLINE` when the cache lacks it and the network may not be used
 * (HF_HUB_OFFLINE), `ERR_HUB` for a refused or failed download.
 */
export class HubError extends TorchError {
  constructor(message: string, code: "ERR_HUB" | "ERR_HUB_OFFLINE" = "ERR_HUB") {
    super(message, code);
  }
}

const classes: Record<string, new (message: string) => TorchError> = {
  ERR_SHAPE: ShapeError,
  ERR_DEVICE: DeviceError,
  ERR_CHECKPOINT: CheckpointError,
  ERR_DISPOSED: DisposedError,
  ERR_BUSY: BusyError,
  ERR_UNSUPPORTED: UnsupportedError,
  ERR_TRACE: TraceError,
  ERR_DEPLOYED: DeployedVersionError,
};

/**
 * Maps an error thrown by the addon to its class. TypeErrors and RangeErrors
 * (argument checks) pass through.
 */
export function fromNative(error: unknown): unknown {
  // Duck-typed, not instanceof: the addon's errors may come from another realm (jest, vm).
  if (typeof error !== "object" || error === null || error instanceof TorchError) return error;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  if (name === "TypeError" || name === "RangeError" || typeof message !== "string") return error;
  if (typeof code !== "string" || !code.startsWith("ERR_")) return error;
  const Class = classes[code];
  return Class ? new Class(message) : new TorchError(message);
}

/** Runs a synchronous addon call, mapping its errors. */
export function nativeSync<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw fromNative(error);
  }
}

/**
 * Runs an asynchronous addon call, mapping its rejection. The mapped error is
 * made here, after the await, so its stack holds the JS callers that await
 * the call (V8's async stack trace: `at async Module.forward`, then the
 * caller's own async function), which the thread that failed cannot know;
 * nothing is captured while the call succeeds.
 */
export async function nativeAsync<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromNative(error);
  }
}

/**
 * Trainer.fit met a NaN or infinite loss (or, at a checkpoint, parameters)
 * and stopped before writing a checkpoint of that step.
 */
export class NonFiniteLossError extends TorchError {
  /** The optimizer step (1-based, as in FitResult.steps) and epoch (0-based) it happened in. */
  readonly step: number;
  readonly epoch: number;
  /** The step's loss (NaN, Infinity or -Infinity; finite when the parameters were the non-finite values). */
  readonly loss: number;
  constructor(message: string, where: { step: number; epoch: number; loss: number }) {
    super(message, "ERR_NON_FINITE");
    this.step = where.step;
    this.epoch = where.epoch;
    this.loss = where.loss;
  }
}

/**
 * Data-parallel training failed across processes: the rendezvous timed out, a
 * peer died or stopped answering, or a collective failed. `missingRanks` names
 * the ranks that did not answer (empty when none could be singled out).
 */
export class DistributedError extends TorchError {
  readonly rank: number;
  readonly worldSize: number;
  readonly missingRanks: readonly number[];
  constructor(message: string, where: { rank: number; worldSize: number; missingRanks?: readonly number[] }) {
    super(message, "ERR_DISTRIBUTED");
    this.rank = where.rank;
    this.worldSize = where.worldSize;
    this.missingRanks = where.missingRanks ?? [];
  }
}
