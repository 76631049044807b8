/**
 * Optimizers over the trainable parameters of modules: libtorch's AdamW and
 * SGD (native/optim.h). Trainable parameters are re-collected before every
 * step, so freezing and unfreezing need no new optimizer, and a parameter
 * that received no gradient since `zeroGrad()` is never touched (no weight
 * decay, no momentum): frozen parameters stay bit-identical.
 */
import { describe } from "../dtypes";
import { CheckpointError, nativeAsync, nativeSync } from "../errors";
import { entryToTensor, readSafetensors, writeSafetensors } from "../hub/safetensors";
import type { OptimizerConfig } from "../interface";
import { Module } from "../module";
import { native, type NativeOptimizer, type NativeOptimizerOptions, type NativeTensor } from "../native";
import { Tensor } from "../tensor";

export type OptimizerKind = "adamw" | "sgd";

export interface AdamWOptions {
  /** Learning rate (PyTorch default 1e-3). */
  readonly lr: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  /** Decoupled weight decay (default 0.01, as torch.optim.AdamW). */
  readonly weightDecay?: number;
  readonly amsgrad?: boolean;
}

export interface SGDOptions {
  readonly lr: number;
  readonly momentum?: number;
  readonly dampening?: number;
  /** L2 penalty added to the gradient (default 0). */
  readonly weightDecay?: number;
  readonly nesterov?: boolean;
}

/** One parameter group: the trainable parameters of one module, with optional overrides. */
export interface ParamGroup {
  readonly module: Module;
  readonly lr?: number;
  readonly weightDecay?: number;
}

export interface StepOptions {
  /** Clip the gradients' total norm to this before stepping (torch.nn.utils.clip_grad_norm_). */
  readonly maxGradNorm?: number;
  /** The norm's order (default 2; Infinity for the max norm). */
  readonly normType?: number;
}

export interface StepResult {
  /** Total gradient norm before clipping, when clipping was asked for. */
  readonly gradNorm: number | null;
  /** How many parameters had a gradient and were updated. */
  readonly stepped: number;
}

function checkNumber(value: unknown, what: string, min: number, max = Infinity, minInclusive = true): number {
  if (typeof value !== "number" || Number.isNaN(value)) throw new TypeError(`${what}: expected a number but received ${describe(value)}`);
  if (value > max || (minInclusive ? value < min : value <= min) || !Number.isFinite(value))
    throw new RangeError(`${what}: expected a finite number ${minInclusive ? ">=" : ">"} ${min}${max < Infinity ? ` and <= ${max}` : ""} but received ${value}`);
  return value;
}

function nativeOptions(kind: OptimizerKind, options: AdamWOptions | SGDOptions): NativeOptimizerOptions {
  const what = `Optimizer.${kind}`;
  if (typeof options !== "object" || options === null) throw new TypeError(`${what}: expected options with lr but received ${describe(options)}`);
  const out: NativeOptimizerOptions = { lr: checkNumber(options.lr, `${what}: lr`, 0) };
  if (options.weightDecay !== undefined) out.weightDecay = checkNumber(options.weightDecay, `${what}: weightDecay`, 0);
  if (kind === "adamw") {
    const o = options as AdamWOptions;
    if (o.betas !== undefined) {
      if (!Array.isArray(o.betas) || o.betas.length !== 2) throw new TypeError(`${what}: betas must be [beta1, beta2] but received ${describe(o.betas)}`);
      out.betas = [checkNumber(o.betas[0], `${what}: betas[0]`, 0, 0.999999999), checkNumber(o.betas[1], `${what}: betas[1]`, 0, 0.999999999)];
    }
    if (o.eps !== undefined) out.eps = checkNumber(o.eps, `${what}: eps`, 0, Infinity, false);
    if (o.amsgrad !== undefined) out.amsgrad = o.amsgrad === true;
  } else {
    const o = options as SGDOptions;
    if (o.momentum !== undefined) out.momentum = checkNumber(o.momentum, `${what}: momentum`, 0);
    if (o.dampening !== undefined) out.dampening = checkNumber(o.dampening, `${what}: dampening`, 0, 1);
    if (o.nesterov === true) {
      if (!(o.momentum !== undefined && o.momentum > 0) || (o.dampening ?? 0) !== 0)
        throw new RangeError(`${what}: nesterov needs momentum > 0 and dampening 0 (received momentum ${String(o.momentum)}, dampening ${String(o.dampening ?? 0)})`);
      out.nesterov = true;
    }
  }
  return out;
}

function toMap(record: Record<string, NativeTensor>): Map<string, Tensor> {
  return new Map(Object.entries(record).map(([k, v]) => [k, Tensor.fromNative(v)]));
}

/** An optimizer over one or more modules (one parameter group per module). */
export class Optimizer implements Disposable {
  #native: NativeOptimizer;
  /** Hyperparameters other than learning rates, as created: save() records them, load() checks them. */
  readonly #hyper: string;

  private constructor(handle: NativeOptimizer, hyper: string) {
    this.#native = handle;
    this.#hyper = hyper;
  }

  /** torch.optim.AdamW over the trainable parameters of `groups` (a module, or groups). */
  static adamw(groups: Module | readonly ParamGroup[], options: AdamWOptions): Optimizer {
    return Optimizer.#create("adamw", groups, options);
  }

  /** torch.optim.SGD (momentum, dampening, weight decay, Nesterov). */
  static sgd(groups: Module | readonly ParamGroup[], options: SGDOptions): Optimizer {
    return Optimizer.#create("sgd", groups, options);
  }

  /** The optimizer a LightningModule's `configureOptimizers()` describes. */
  static fromConfig(config: OptimizerConfig): Optimizer {
    const options = {
      lr: config.lr,
      ...(config.weightDecay !== undefined ? { weightDecay: config.weightDecay } : {}),
      ...(config.betas !== undefined ? { betas: config.betas } : {}),
      ...(config.eps !== undefined ? { eps: config.eps } : {}),
      ...(config.momentum !== undefined ? { momentum: config.momentum } : {}),
    };
    if (config.kind === "adamw") return Optimizer.adamw(config.module, options);
    if (config.kind === "sgd") return Optimizer.sgd(config.module, options);
    throw new RangeError(`Optimizer.fromConfig: kind must be "adamw" or "sgd" but received ${describe(config.kind)}`);
  }

  static #create(kind: OptimizerKind, groups: Module | readonly ParamGroup[], options: AdamWOptions | SGDOptions): Optimizer {
    const list: readonly ParamGroup[] = groups instanceof Module ? [{ module: groups }] : groups;
    if (!Array.isArray(list) || list.length === 0) throw new TypeError(`Optimizer.${kind}: expected a Module or a non-empty array of {module} groups but received ${describe(groups)}`);
    const nativeGroups = list.map((g: ParamGroup, i) => {
      if (typeof g !== "object" || g === null || !(g.module instanceof Module))
        throw new TypeError(`Optimizer.${kind}: groups[${i}].module must be a Module but received ${describe(g?.module)}`);
      return {
        module: g.module.native,
        ...(g.lr !== undefined ? { lr: checkNumber(g.lr, `Optimizer.${kind}: groups[${i}].lr`, 0) } : {}),
        ...(g.weightDecay !== undefined ? { weightDecay: checkNumber(g.weightDecay, `Optimizer.${kind}: groups[${i}].weightDecay`, 0) } : {}),
      };
    });
    const opts = nativeOptions(kind, options);
    const { lr: _lr, ...rest } = opts;
    const hyper = JSON.stringify({ ...rest, groupWeightDecay: nativeGroups.map((g) => g.weightDecay ?? null) });
    return new Optimizer(nativeSync(() => native().NativeOptimizer.create(kind, nativeGroups, opts)), hyper);
  }

  get kind(): OptimizerKind {
    return nativeSync(() => this.#native.kind);
  }

  get groupCount(): number {
    return nativeSync(() => this.#native.groupCount);
  }

  /** How many parameters require grad now (what the next step may update). */
  get trainableCount(): number {
    return nativeSync(() => this.#native.trainableCount);
  }

  /** Learning rate of each group. */
  get learningRates(): number[] {
    const n = this.groupCount;
    return Array.from({ length: n }, (_, g) => nativeSync(() => this.#native.getLr(g)));
  }

  /** Sets the learning rate of one group, or of every group when `group` is omitted. */
  setLearningRate(lr: number, group?: number): void {
    checkNumber(lr, "Optimizer.setLearningRate: lr", 0);
    const groups = group === undefined ? [...Array(this.groupCount).keys()] : [group];
    for (const g of groups) nativeSync(() => this.#native.setLr(g, lr));
  }

  /** Drops every gradient of the groups' modules (set to none, frozen parameters too). */
  zeroGrad(): void {
    nativeSync(() => this.#native.zeroGrad());
  }

  /** One optimizer step off the JS thread, after optional gradient clipping. */
  async step(options: StepOptions = {}): Promise<StepResult> {
    const args: { maxGradNorm?: number; normType?: number } = {};
    if (options.maxGradNorm !== undefined) args.maxGradNorm = checkNumber(options.maxGradNorm, "Optimizer.step: maxGradNorm", 0, Infinity, false);
    if (options.normType !== undefined) args.normType = checkNumber(options.normType, "Optimizer.step: normType", 0);
    return nativeAsync(() => this.#native.step(args));
  }

  /** Scales the gradients so their total norm is at most `maxNorm`; resolves with the norm before. */
  async clipGradNorm(maxNorm: number, normType = 2): Promise<number> {
    checkNumber(maxNorm, "Optimizer.clipGradNorm: maxNorm", 0, Infinity, false);
    checkNumber(normType, "Optimizer.clipGradNorm: normType", 0);
    return nativeAsync(() => this.#native.clipGradNorm(maxNorm, normType));
  }

  /** Current gradients by "<group>.<parameter>" (aliases: valid until the next backward or zeroGrad). */
  gradients(): Map<string, Tensor> {
    return toMap(nativeSync(() => this.#native.gradients()));
  }

  /** Optimizer state by "<group>.<parameter>.<field>" (aliases: valid until the next step). */
  stateDict(): Map<string, Tensor> {
    return toMap(nativeSync(() => this.#native.stateDict()));
  }

  /** Replaces the state. @returns how many parameters got state. @throws CheckpointError when it does not fit. */
  loadStateDict(state: ReadonlyMap<string, Tensor>): number {
    const record = Object.fromEntries([...state].map(([k, t]) => [k, t.native]));
    return nativeSync(() => this.#native.loadStateDict(record));
  }

  /** Writes state and learning rates to a safetensors file, atomically. */
  async save(file: string): Promise<void> {
    const state = this.stateDict();
    try {
      await writeSafetensors(file, state, { kind: this.kind, hyperparameters: this.#hyper, learning_rates: JSON.stringify(this.learningRates) });
    } finally {
      for (const t of state.values()) t.dispose();
    }
  }

  /**
   * Restores what `save` wrote: state and learning rates.
   * @throws CheckpointError for another kind, other hyperparameters (betas, eps,
   *   weight decay, amsgrad, momentum...), group count or parameters.
   */
  async load(file: string): Promise<void> {
    const { tensors, metadata } = await readSafetensors(file);
    if (metadata.kind !== this.kind) throw new CheckpointError(`Optimizer.load(${file}): the file holds a ${String(metadata.kind)} optimizer, this is ${this.kind}`);
    if (metadata.hyperparameters !== this.#hyper)
      throw new CheckpointError(`Optimizer.load(${file}): the file's hyperparameters ${String(metadata.hyperparameters)} differ from this optimizer's ${this.#hyper}; create it with the same options`);
    const lrs: unknown = JSON.parse(metadata.learning_rates ?? "null");
    if (!Array.isArray(lrs) || lrs.length !== this.groupCount || !lrs.every((x) => typeof x === "number"))
      throw new CheckpointError(`Optimizer.load(${file}): learning_rates ${String(metadata.learning_rates)} does not fit ${this.groupCount} group(s)`);
    const state = new Map([...tensors].map(([k, e]) => [k, entryToTensor(e)]));
    try {
      this.loadStateDict(state);
    } finally {
      for (const t of state.values()) t.dispose();
    }
    lrs.forEach((lr: number, g) => this.setLearningRate(lr, g));
  }

  /** Frees the optimizer and its state (idempotent). @throws BusyError while a step is in flight. */
  dispose(): void {
    nativeSync(() => this.#native.dispose());
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
