/**
 * Exports a module to a Triton model repository as TorchScript for the
 * pytorch_libtorch backend: `<repository>/<name>/<version>/model.pt` (traced
 * by native/trace.h, or a TorchScript module as it is) and
 * `<repository>/<name>/config.pbtxt`, generated from the saved file's own
 * forward on the example inputs and checked on other batch sizes and lengths.
 */
import * as path from "node:path";

import { isDevice } from "../../device";
import { describe } from "../../dtypes";
import { Module } from "../../module";
import { Tensor } from "../../tensor";
import { checkTrace, type OutputSpec } from "../../trace-check";
import { orderInputs, saveTorchScript, type ExampleInputs, type OrderedInputs } from "../../trace";
import { renderConfigPbtxt, tritonDataType, type TritonModelConfig, type TritonTensorConfig } from "./config-pbtxt";
import { countedWrite } from "../../hub/atomic";
import { installVersion, writeFileDurable } from "./repository";
import {
  ModelStorageInfo,
  TritonModelStorageManager,
  type SaveModelOptions,
  type TritonModelStorageManagerClass,
  type TritonRole,
} from "./storage-manager";

export interface JitTraceOptions {
  /** Which requests the model serves (sets priorities). Default "items". */
  role?: TritonRole;
  /** max_batch_size; 0 turns Triton's batching off (dims are then full shapes). Default 16. */
  maxBatchSize?: number;
  /** Keep the example's sequence length in config.pbtxt instead of -1. Default false. */
  fixedLength?: boolean;
  /**
   * Per input name, the dimensions (≥ 1, counting the batch as 0) whose size
   * may vary. Default: dimension 1 of every integer or bool input of rank ≥ 2
   * (the length of input_ids, attention_mask, token_type_ids); none of float inputs (pixel_values).
   */
  variableDims?: Readonly<Record<string, readonly number[]>>;
  /** Instances per GPU (KIND_GPU) or in all (KIND_CPU). Default 1. */
  instanceCount?: number;
  /** GPUs to serve on (exports from CUDA only); default all. */
  gpus?: readonly number[];
  /** Dynamic batching settings, or false for none. Default preferred sizes 1, 2, 4, 8 (≤ maxBatchSize), 100 µs delay. */
  dynamicBatching?: false | { preferredBatchSizes?: readonly number[]; maxQueueDelayMicroseconds?: number };
  /** How many of the highest versions Triton serves. Default 2 (the new one and the one before). */
  latestVersions?: number;
  /**
   * ENABLE_JIT_EXECUTOR. Default false: the profiling executor re-specialises
   * the graph for each new input shape, costly with variable lengths.
   */
  jitExecutor?: boolean;
}

const PRIORITIES: Readonly<Record<TritonRole, { level: number; rateLimiter: number; comment: string }>> = {
  query: {
    level: 1,
    rateLimiter: 1,
    comment: "Role: query model. Requests default to priority level 1 of 2 (the highest); instances carry rate-limiter priority 1, ahead of the items model's 2.",
  },
  items: {
    level: 2,
    rateLimiter: 2,
    comment: "Role: items model. Requests default to priority level 2 of 2; instances carry rate-limiter priority 2, behind the query model's 1.",
  },
  shared: {
    level: 2,
    rateLimiter: 1,
    comment: "Role: shared. This one model serves queries and items (the two towers are the same module, exported once). Items requests default to priority level 2 of 2; send query requests with priority 1 so they are served first.",
  },
};

function positiveInteger(value: unknown, name: string, what: string, min = 1): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${what}: ${name} must be an integer ≥ ${min} but received ${describe(value)}`);
  return value;
}

/** Writes TorchScript (model.pt) and config.pbtxt for Triton's pytorch_libtorch backend. */
export class JitTraceTritonModelStorageManager extends TritonModelStorageManager {
  readonly options: Readonly<JitTraceOptions>;

  constructor(storageInfo: ModelStorageInfo, options: JitTraceOptions = {}) {
    if (!(storageInfo instanceof ModelStorageInfo)) throw new TypeError(`JitTraceTritonModelStorageManager: expected a ModelStorageInfo but received ${describe(storageInfo)}`);
    super(storageInfo);
    this.options = { ...options };
  }

  /** A manager class whose instances default to `defaults` (what get*ModelInferenceManagerClass() returns). */
  static withOptions(defaults: JitTraceOptions): TritonModelStorageManagerClass & (new (info: ModelStorageInfo, options?: JitTraceOptions) => JitTraceTritonModelStorageManager) {
    return class extends JitTraceTritonModelStorageManager {
      constructor(info: ModelStorageInfo, options: JitTraceOptions = {}) {
        super(info, { ...defaults, ...options });
      }
    };
  }

  /** The manager class for a role: queries outrank items. */
  static forRole(role: TritonRole): TritonModelStorageManagerClass & (new (info: ModelStorageInfo, options?: JitTraceOptions) => JitTraceTritonModelStorageManager) {
    return JitTraceTritonModelStorageManager.withOptions({ role });
  }

  /** The same manager (same class) with `options` over its own. */
  with(options: JitTraceOptions): JitTraceTritonModelStorageManager {
    const Manager = this.constructor as new (info: ModelStorageInfo, options: JitTraceOptions) => JitTraceTritonModelStorageManager;
    return new Manager(this.storageInfo, { ...this.options, ...options });
  }

  override modelFile(): string {
    return path.join(this.storageInfo.versionDir, "model.pt");
  }

  /**
   * Traces `module` on `exampleInputs` (a TorchScript module is saved as it
   * is), checks the saved file against the module on other batch sizes and
   * lengths, and installs the version and config.pbtxt atomically.
   * @param namedInputs true: config inputs are forward's argument names; false: INPUT__0, INPUT__1, ... in the record's order.
   * @throws DeployedVersionError when the version exists (nothing is touched) unless `overwrite`;
   *   TraceError when the traced file does not compute what the module does;
   *   UnsupportedError for a dtype or an output Triton cannot carry;
   *   TypeError/RangeError for bad arguments. On any failure the repository is as it was.
   */
  override async saveModel(module: Module, exampleInputs: ExampleInputs, namedInputs: boolean, options: SaveModelOptions = {}): Promise<void> {
    const info = this.storageInfo;
    const what = `saveModel("${info.modelName}", version ${info.version})`;
    if (!(module instanceof Module)) throw new TypeError(`${what}: expected a Module but received ${describe(module)}`);
    if (typeof namedInputs !== "boolean") throw new TypeError(`${what}: namedInputs must be a boolean but received ${describe(namedInputs)}`);
    const settings = this.resolve(options, what);
    const ordered = orderInputs(module, exampleInputs, { namedInputs, what });
    const variableDims = this.variableDims(ordered, settings, what);
    const wasTraining = module.isTraining;
    if (wasTraining) module.eval();  // the trace and its check run without dropout
    try {
      await installVersion(
        info,
        async (tempDir) => {
          const file = path.join(tempDir, "model.pt");
          await countedWrite(() => saveTorchScript(module, exampleInputs, file, { namedInputs }));
          using traced = await Module.loadTorchScript(file, { device: module.device });
          const specs = await checkTrace(module, traced, ordered, { variableDims });
          return renderConfigPbtxt(this.config(module, traced, ordered, specs, variableDims, namedInputs, settings, what));
        },
        { overwrite: options.overwrite ?? false, what, writeConfig: (file, text) => this.writeConfigFile(file, text) },
      );
    } finally {
      if (wasTraining) module.train(true);
    }
  }

  /** Writes config.pbtxt's temporary file; a subclass (or a test) may replace it. */
  protected async writeConfigFile(file: string, text: string): Promise<void> {
    await writeFileDurable(file, text);
  }

  private resolve(options: SaveModelOptions, what: string) {
    const o = this.options;
    const role = options.role ?? o.role ?? "items";
    if (!Object.prototype.hasOwnProperty.call(PRIORITIES, role)) throw new RangeError(`${what}: role must be "query", "items" or "shared" but received ${describe(role)}`);
    const maxBatchSize = positiveInteger(o.maxBatchSize ?? 16, "maxBatchSize", what, 0);
    const batching = o.dynamicBatching ?? {};
    const preferred = batching === false ? [] : batching.preferredBatchSizes ?? [1, 2, 4, 8].filter((b) => b <= maxBatchSize);
    preferred.forEach((b) => positiveInteger(b, "dynamicBatching.preferredBatchSizes[]", what));
    if (batching !== false && maxBatchSize === 0) throw new RangeError(`${what}: dynamic batching needs maxBatchSize > 0; pass dynamicBatching: false with maxBatchSize 0`);
    return {
      role,
      maxBatchSize,
      fixedLength: o.fixedLength ?? false,
      instanceCount: positiveInteger(o.instanceCount ?? 1, "instanceCount", what),
      gpus: (o.gpus ?? []).map((g) => positiveInteger(g, "gpus[]", what, 0)),
      dynamicBatching: batching === false ? undefined : { preferred, delay: positiveInteger(batching.maxQueueDelayMicroseconds ?? 100, "dynamicBatching.maxQueueDelayMicroseconds", what, 0) },
      latestVersions: positiveInteger(o.latestVersions ?? 2, "latestVersions", what),
      jitExecutor: o.jitExecutor ?? false,
    };
  }

  private variableDims(ordered: OrderedInputs, settings: ReturnType<JitTraceTritonModelStorageManager["resolve"]>, what: string): Map<string, number[]> {
    const dims = new Map<string, number[]>();
    const batch = ordered.tensors[0]?.shape[0];
    const given = this.options.variableDims ?? {};
    for (const name of Object.keys(given)) if (!ordered.names.includes(name)) throw new RangeError(`${what}: variableDims names "${name}", which is not an example input (${ordered.names.join(", ")})`);
    ordered.tensors.forEach((t: Tensor, i) => {
      const name = ordered.names[i] as string;
      tritonDataType(t.dtype, `${what}: example input "${name}"`);
      const shape = t.shape;
      if (shape.length === 0 || (shape[0] ?? 0) < 1 || shape[0] !== batch)
        throw new RangeError(`${what}: every example input needs the same batch size ≥ 1 in dimension 0; "${name}" is [${shape.join(", ")}], "${ordered.names[0]}" has batch ${String(batch)}`);
      const own = given[name] ?? (t.dtype.startsWith("float") || t.dtype === "bfloat16" || shape.length < 2 ? [] : [1]);
      for (const d of own) if (!Number.isInteger(d) || d < 1 || d >= shape.length) throw new RangeError(`${what}: variableDims["${name}"] holds ${d}, not a dimension in 1..${shape.length - 1} of [${shape.join(", ")}]`);
      dims.set(name, settings.fixedLength ? [] : [...own]);
    });
    return dims;
  }

  private config(
    module: Module,
    traced: Module,
    ordered: OrderedInputs,
    specs: readonly OutputSpec[],
    variableDims: ReadonlyMap<string, readonly number[]>,
    namedInputs: boolean,
    settings: ReturnType<JitTraceTritonModelStorageManager["resolve"]>,
    what: string,
  ): TritonModelConfig {
    const batched = settings.maxBatchSize > 0;
    const names = traced.inputNames;
    const inputs: TritonTensorConfig[] = ordered.tensors.map((t, i) => {
      const variable = variableDims.get(ordered.names[i] as string) ?? [];
      const dims = t.shape.map((d, k) => (k === 0 || variable.includes(k) ? -1 : d));
      return {
        // The backend maps inputs by forward's argument names, else by the index in INPUT__<i>.
        name: namedInputs ? (names[i] as string) : `INPUT__${i}`,
        dataType: tritonDataType(t.dtype, `${what}: example input "${ordered.names[i]}"`),
        dims: batched ? dims.slice(1) : dims,
      };
    });
    const outputs: TritonTensorConfig[] = specs.map((spec, i) => {
      if (batched && !spec.batchMajor)
        throw new RangeError(`${what}: output ${i} [${spec.shape.join(", ")}] does not have the batch size in dimension 0, which max_batch_size > 0 needs; pass maxBatchSize: 0`);
      const dims = spec.shape.map((d, k) => (k === 0 || spec.variableDims.includes(k) ? -1 : d));
      // Outputs are mapped by the index in OUTPUT__<i> (the backend has no names for them).
      return { name: `OUTPUT__${i}`, dataType: tritonDataType(spec.dtype, `${what}: output ${i}`), dims: batched ? dims.slice(1) : dims };
    });
    const device = module.device;
    const gpu = isDevice(device) && device !== "cpu";
    const priority = PRIORITIES[settings.role];
    return {
      comments: [
        `Written by embeddings-torch (JitTraceTritonModelStorageManager) from a ${module.kind} module on ${device}.`,
        priority.comment,
        namedInputs
          ? `Inputs are forward's argument names (${names.join(", ")}); outputs are OUTPUT__<index>.`
          : "Inputs are INPUT__<index> in forward's positional order; outputs are OUTPUT__<index>.",
      ],
      name: this.storageInfo.modelName,
      platform: "pytorch_libtorch",
      maxBatchSize: settings.maxBatchSize,
      inputs,
      outputs,
      instanceGroup: {
        kind: gpu ? "KIND_GPU" : "KIND_CPU",
        count: settings.instanceCount,
        ...(gpu && settings.gpus.length > 0 ? { gpus: settings.gpus } : {}),
        rateLimiterPriority: priority.rateLimiter,
      },
      ...(settings.dynamicBatching
        ? {
            dynamicBatching: {
              preferredBatchSizes: settings.dynamicBatching.preferred,
              maxQueueDelayMicroseconds: settings.dynamicBatching.delay,
              priorityLevels: 2,
              defaultPriorityLevel: priority.level,
            },
          }
        : {}),
      latestVersions: settings.latestVersions,
      parameters: { ENABLE_JIT_EXECUTOR: settings.jitExecutor ? "true" : "false" },
    };
  }
}
