import * as fs from "node:fs";

import { checkDevice, type Device } from "./device";
import { checkUnshared, describe, isDType, isShape, typedArrayKind, type DType } from "./dtypes";
import { CheckpointError, nativeAsync, nativeSync } from "./errors";
import { readSafetensorsTensors, writeSafetensors } from "./hub/safetensors";
import { hasRevision, native, type NativeHostArray, type NativeModule, type NativeOutput, type NativeTensor } from "./native";
import { Tensor } from "./tensor";

/** A parameter as listed by a module: no data, just what it is. */
export interface ParameterInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly requiresGrad: boolean;
}

/** What forward returns: a tensor, or tuples/lists/dicts of them as the module made them. */
export type ModuleOutput = Tensor | readonly ModuleOutput[] | { readonly [name: string]: ModuleOutput } | null | number;

/**
 * An input given as JS memory: copied once onto the module's device when the
 * forward is queued (the array may be reused as soon as `forward` returns its
 * promise). The dtype is the array's: BigInt64Array int64 (token ids),
 * Int32Array int32, Float32Array float32, Float64Array float64, Uint8Array uint8.
 */
export interface HostArray {
  readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  readonly shape: readonly number[];
}

/** One input: a Tensor, or a {@link HostArray} (no Tensor to create and dispose). */
export type ModuleInput = Tensor | HostArray;

/** Positional inputs, or inputs by name (`input_ids`, `attention_mask`, ...). */
export type ModuleInputs = readonly ModuleInput[] | Readonly<Record<string, ModuleInput>>;

const HOST_ARRAY_KINDS = ["Float32Array", "Float64Array", "Int32Array", "BigInt64Array", "Uint8Array"];

/** A forward input checked, as the addon takes it; `what` names it in errors. */
function inputHandle(input: unknown, what: string): NativeTensor | NativeHostArray {
  if (input instanceof Tensor) return input.native;
  if (typeof input !== "object" || input === null || !("data" in input))
    throw new TypeError(`forward: ${what} must be a Tensor or a host array { data, shape } but received ${describe(input)}`);
  const { data, shape } = input as { data: unknown; shape: unknown };
  if (!ArrayBuffer.isView(data) || !HOST_ARRAY_KINDS.includes(typedArrayKind(data)))
    throw new TypeError(`forward: ${what}.data must be a ${HOST_ARRAY_KINDS.join(", ")} but received ${describe(data)}`);
  const array = data as HostArray["data"];
  checkUnshared(array, `forward: ${what}.data`);
  if (!isShape(shape)) throw new TypeError(`forward: ${what}.shape must be an array of non-negative integers but received ${describe(shape)}`);
  const numel = shape.reduce((a, d) => a * d, 1);
  if (numel !== array.length) throw new RangeError(`forward: ${what}.shape [${shape.join(", ")}] needs ${numel} elements but data holds ${array.length}`);
  return { data: array, shape };
}

export interface ForwardOptions {
  /** Record the autograd graph (for training). Default false: inference under NoGradGuard. */
  grad?: boolean;
  /**
   * Mixed precision: run eligible ops (matrix products, attention) in
   * float16/bfloat16 with autocast, on the module's device; outputs may then
   * be of that dtype. Default: none (strict float32, parity with PyTorch).
   */
  autocast?: "float16" | "bfloat16";
}

export interface LoadStateDictOptions {
  /** Fail unless the file's keys equal the module's parameters and buffers. Default true. */
  strict?: boolean;
}

function isHostArray(h: NativeTensor | NativeHostArray): h is NativeHostArray {
  return "data" in h && ArrayBuffer.isView((h as NativeHostArray).data);
}

function mapInputs<T, U>(inputs: T[] | Record<string, T>, f: (t: T) => U): U[] | Record<string, U> {
  return Array.isArray(inputs) ? inputs.map(f) : Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, f(v)]));
}

function wrapOutput(output: NativeOutput): ModuleOutput {
  if (output === null || typeof output === "number") return output;
  if (Array.isArray(output)) return output.map(wrapOutput);
  if (typeof (output as NativeTensor).toFloat32Array === "function") return Tensor.fromNative(output as NativeTensor);
  return Object.fromEntries(Object.entries(output).map(([k, v]) => [k, wrapOutput(v as NativeOutput)]));
}

/**
 * A module handle: a TorchScript module or one of this package's C++ models.
 * Listing and freezing are synchronous; forward runs off the JS thread and
 * keeps the module and its inputs alive until it settles. `dispose()`,
 * `to()` and `train()` throw BusyError while a call is in flight.
 */
export class Module implements Disposable {
  #native: NativeModule;

  private constructor(handle: NativeModule) {
    this.#native = handle;
  }

  /**
   * Creates one of the addon's C++ models with random weights; `options` are
   * config.json fields. Architectures: `runtimeInfo().architectures`.
   */
  static create(architecture: string, options: Readonly<Record<string, number | string | boolean>> = {}): Module {
    if (typeof architecture !== "string") throw new TypeError(`Module.create: expected an architecture name but received ${describe(architecture)}`);
    if (typeof options !== "object" || options === null || Array.isArray(options)) throw new TypeError(`Module.create("${architecture}"): expected options as an object but received ${describe(options)}`);
    for (const [key, value] of Object.entries(options))
      if (typeof value !== "number" && typeof value !== "string" && typeof value !== "boolean")
        throw new TypeError(`Module.create("${architecture}"): option ${key} must be a number, string or boolean but received ${describe(value)}`);
    return new Module(nativeSync(() => native().NativeModule.create(architecture, { ...options })));
  }

  /**
   * Loads a TorchScript file (torch.jit.save / our tracer) off the JS thread, in eval mode.
   * @throws CheckpointError naming the file (missing, truncated, not TorchScript); UnsupportedError when it uses operators this libtorch lacks.
   */
  static async loadTorchScript(file: string, options: { device?: Device } = {}): Promise<Module> {
    if (typeof file !== "string") throw new TypeError(`Module.loadTorchScript: expected a file path but received ${describe(file)}`);
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) throw new CheckpointError(`Module.loadTorchScript: ${file} is not a file (expected a TorchScript file saved by torch.jit.save)`);
    const device = checkDevice(options.device ?? "cpu", "Module.loadTorchScript");
    return new Module(await nativeAsync(() => native().NativeModule.loadTorchScript(file, device)));
  }

  /** @internal */
  static fromNative(handle: NativeModule): Module {
    return new Module(handle);
  }

  /** @internal The native handle, for other addon calls (trace, optimizers). */
  get native(): NativeModule {
    return this.#native;
  }

  /** "torchscript" or the C++ architecture ("bert", "xlm-roberta", "mlp", ...). */
  get kind(): string {
    return nativeSync(() => this.#native.kind);
  }

  /** forward's input names, in positional order. */
  get inputNames(): readonly string[] {
    return nativeSync(() => this.#native.inputNames);
  }

  get device(): Device {
    return nativeSync(() => this.#native.device) as Device;
  }

  get isTraining(): boolean {
    return nativeSync(() => this.#native.isTraining);
  }

  get isDisposed(): boolean {
    return this.#native.isDisposed;
  }

  /** Every parameter with name, shape, dtype and requiresGrad, in registration order. */
  namedParameters(): ParameterInfo[] {
    return nativeSync(() => this.#native.namedParameters()) as ParameterInfo[];
  }

  /**
   * Sets requires_grad on parameters: those whose name starts with `prefix`
   * (a string), or exactly the `names` given (an array). Returns how many
   * changed. @throws RangeError for a name or prefix that matches nothing.
   */
  setRequiresGrad(selection: string | readonly string[], requiresGrad: boolean): number {
    if (typeof requiresGrad !== "boolean") throw new TypeError(`setRequiresGrad: requiresGrad must be a boolean but received ${describe(requiresGrad)}`);
    const all = this.namedParameters().map((p) => p.name);
    let names: string[];
    if (typeof selection === "string") {
      names = all.filter((n) => n === selection || n.startsWith(selection.endsWith(".") || selection === "" ? selection : `${selection}.`));
      if (names.length === 0) throw new RangeError(`setRequiresGrad: no parameter under "${selection}"; parameters start with ${[...new Set(all.map((n) => n.split(".")[0]))].join(", ")}`);
    } else if (Array.isArray(selection) && selection.every((n) => typeof n === "string")) {
      names = [...selection];
    } else {
      throw new TypeError(`setRequiresGrad: expected a prefix string or an array of names but received ${describe(selection)}`);
    }
    return nativeSync(() => this.#native.setRequiresGrad(names, requiresGrad));
  }

  /** Training mode (dropout on). */
  train(on = true): this {
    nativeSync(() => this.#native.train(on));
    return this;
  }

  /** Inference mode (dropout off). */
  eval(): this {
    return this.train(false);
  }

  /** Moves parameters and buffers in place; a dtype casts the floating ones only (integer buffers keep theirs, as nn.Module.to). */
  to(target: Device | DType | { device?: Device; dtype?: DType }): this {
    const { device, dtype } = typeof target === "string" ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    const checked = device === undefined ? null : checkDevice(device, "Module.to");
    nativeSync(() => this.#native.to(checked, dtype ?? null));
    return this;
  }

  /**
   * Runs forward off the JS thread. Inputs are Tensors or host arrays
   * ({@link HostArray}: copied as the forward is queued).
   * @throws TypeError / RangeError for a malformed input; ShapeError / TorchError naming the input.
   */
  async forward(inputs: ModuleInputs, options: ForwardOptions = {}): Promise<ModuleOutput> {
    let handles: (NativeTensor | NativeHostArray)[] | Record<string, NativeTensor | NativeHostArray>;
    if (Array.isArray(inputs)) {
      handles = inputs.map((t: unknown, i) => inputHandle(t, `input ${i}`));
    } else if (typeof inputs === "object" && inputs !== null) {
      handles = Object.fromEntries(Object.entries(inputs as Record<string, unknown>).map(([name, t]) => [name, inputHandle(t, `input "${name}"`)]));
    } else {
      throw new TypeError(`forward: expected an array or a record of Tensors but received ${describe(inputs)}`);
    }
    const autocast = options.autocast ?? null;
    if (autocast !== null && autocast !== "float16" && autocast !== "bfloat16")
      throw new RangeError(`forward: autocast must be "float16" or "bfloat16" but received ${describe(autocast)}`);
    // An addon older than revision 3 takes tensors only: the host arrays become tensors here.
    const made: Tensor[] = [];
    if (!hasRevision(3))
      handles = mapInputs(handles, (h) => {
        if (!isHostArray(h)) return h;
        const t = Tensor.from(h.data, [...h.shape], { device: this.device });
        made.push(t);
        return t.native;
      });
    try {
      const output = await nativeAsync(() => this.#native.forward(handles, options.grad ?? false, autocast));
      return wrapOutput(output);
    } finally {
      for (const t of made) t.dispose();
    }
  }

  /**
   * A forward of this module follows within about half a millisecond (its
   * inputs are being prepared, e.g. a query tokenized): on the CPU, the thread
   * that runs forwards wakes now, not when the forward arrives. A hint only:
   * nothing happens on CUDA or with an addon older than interface revision 3.
   */
  expectForward(): void {
    if (!this.#native.isDisposed) this.#native.expectForward?.();
  }

  /** Like forward, for modules that return one tensor. @throws TypeError otherwise. */
  async forwardTensor(inputs: ModuleInputs, options: ForwardOptions = {}): Promise<Tensor> {
    const output = await this.forward(inputs, options);
    if (!(output instanceof Tensor)) throw new TypeError(`forward returned ${describe(output)}, not one Tensor`);
    return output;
  }

  /** Parameters and buffers by name: tensors that alias the module's memory (no copy). */
  stateDict(): Map<string, Tensor> {
    return new Map(Object.entries(nativeSync(() => this.#native.stateDict())).map(([k, v]) => [k, Tensor.fromNative(v)]));
  }

  /**
   * Copies tensors into the module's parameters and buffers by name (a
   * safetensors file path, or tensors). Shapes are all checked before
   * anything is copied. @returns names missing from the source and unexpected
   * in it. @throws CheckpointError naming each mismatch (and, when strict,
   * each missing or unexpected key).
   */
  async loadStateDict(source: string | ReadonlyMap<string, Tensor>, options: LoadStateDictOptions = {}): Promise<{ missing: string[]; unexpected: string[] }> {
    const strict = options.strict ?? true;
    const what = typeof source === "string" ? source : "state dict";
    let tensors: Map<string, Tensor>;
    let owned = false;
    if (typeof source === "string") {
      tensors = (await readSafetensorsTensors(source)).tensors;
      owned = true;
    } else if (source instanceof Map) {
      tensors = new Map(source);
    } else {
      throw new TypeError(`loadStateDict: expected a safetensors path or a Map of Tensors but received ${describe(source)}`);
    }
    try {
      if (strict) {
        // Compare keys before copying anything: a failed strict load leaves the module as it was.
        const own = this.stateDict();
        const missing = [...own.keys()].filter((k) => !tensors.has(k));
        const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
        for (const t of own.values()) t.dispose();
        if (missing.length > 0 || unexpected.length > 0) {
          const parts = [];
          if (missing.length) parts.push(`missing ${missing.length}: ${missing.join(", ")}`);
          if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${unexpected.join(", ")}`);
          throw new CheckpointError(`loadStateDict(${what}): keys do not match the ${this.kind} module (${parts.join("; ")})`);
        }
      }
      const record = Object.fromEntries([...tensors].map(([k, t]) => [k, t.native]));
      return nativeSync(() => this.#native.loadStateDict(record));
    } finally {
      if (owned) for (const t of tensors.values()) t.dispose();
    }
  }

  /** Writes parameters and buffers to a safetensors file, atomically. */
  async saveStateDict(file: string, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
    const state = this.stateDict();
    try {
      await writeSafetensors(file, state, metadata);
    } finally {
      for (const t of state.values()) t.dispose();
    }
  }

  /** Frees the module (idempotent). @throws BusyError while a call is in flight. */
  dispose(): void {
    nativeSync(() => this.#native.dispose());
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
