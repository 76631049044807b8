/**
 * TorchScript export: traces this package's C++ models into a TorchScript
 * file (native/trace.h) and saves TorchScript modules as they are. The file
 * loads in PyTorch (`torch.jit.load`), in Triton's pytorch_libtorch backend and
 * back here (`Module.loadTorchScript`).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { describe } from "./dtypes";
import { nativeAsync } from "./errors";
import { useModules } from "./models/ownership";
import { Module } from "./module";
import { Tensor } from "./tensor";

/** Example inputs by name (`input_ids`, `attention_mask`, ...), as a model's get*ModelInputs() returns them. */
export type ExampleInputs = Readonly<Record<string, Tensor>>;

/** Example inputs in the order forward takes them, with forward's argument names. */
export interface OrderedInputs {
  readonly names: readonly string[];
  readonly tensors: readonly Tensor[];
}

export interface OrderInputsOptions {
  /**
   * true: the record's keys are forward's argument names, in any order.
   * false: the record's order is forward's positional order (keys ignored).
   */
  namedInputs: boolean;
  /** The caller, for messages. */
  what: string;
}

/**
 * Orders example inputs as `module`'s forward takes them.
 * @throws TypeError for a value that is not a Tensor, RangeError for no
 *   inputs, an unknown name, or more positional inputs than forward takes.
 */
export function orderInputs(module: Module, inputs: ExampleInputs, options: OrderInputsOptions): OrderedInputs {
  const { what } = options;
  if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs))
    throw new TypeError(`${what}: expected example inputs as a record of Tensors but received ${describe(inputs)}`);
  const entries = Object.entries(inputs);
  if (entries.length === 0) throw new RangeError(`${what}: no example inputs; the module takes ${module.inputNames.join(", ")}`);
  for (const [name, tensor] of entries) {
    if (!(tensor instanceof Tensor)) throw new TypeError(`${what}: example input "${name}" must be a Tensor but received ${describe(tensor)}`);
  }
  const accepted = module.inputNames;
  if (!options.namedInputs) {
    if (entries.length > accepted.length)
      throw new RangeError(`${what}: ${entries.length} positional example inputs but forward takes ${accepted.length} (${accepted.join(", ")})`);
    return { names: accepted.slice(0, entries.length), tensors: entries.map(([, t]) => t) };
  }
  const unknown = entries.map(([name]) => name).filter((name) => !accepted.includes(name));
  if (unknown.length > 0)
    throw new RangeError(`${what}: forward takes no input named ${unknown.map((n) => `"${n}"`).join(", ")}; it takes ${accepted.join(", ")}`);
  const names = accepted.filter((name) => name in inputs);
  return { names, tensors: names.map((name) => inputs[name] as Tensor) };
}

export interface SaveTorchScriptOptions {
  /** See {@link OrderInputsOptions.namedInputs}. Default true. */
  namedInputs?: boolean;
}

/**
 * Writes `module` as a TorchScript file: a C++ model is traced on
 * `exampleInputs` (weights stay parameters; forward's arguments keep their
 * names), a TorchScript module is saved unchanged. Runs off the JS thread; a
 * module in training mode is traced in eval mode (no dropout) and put back.
 * The file is written only once the trace succeeded. A trace is only valid for
 * the shapes the model handles without reading sizes as integers: check it
 * with {@link checkTrace} (lib/trace-check.ts), as the Triton exporter does.
 * @throws TypeError/RangeError for bad arguments, DisposedError, BusyError
 *   (a call on the module is in flight), TorchError from the trace or the write.
 */
export async function saveTorchScript(module: Module, exampleInputs: ExampleInputs, file: string, options: SaveTorchScriptOptions = {}): Promise<void> {
  const what = "saveTorchScript";
  if (!(module instanceof Module)) throw new TypeError(`${what}: expected a Module but received ${describe(module)}`);
  if (typeof file !== "string" || file === "") throw new TypeError(`${what}: expected a file path but received ${describe(file)}`);
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new RangeError(`${what}: folder ${dir} does not exist`);
  const ordered = orderInputs(module, exampleInputs, { namedInputs: options.namedInputs ?? true, what });
  const device = module.device;
  ordered.tensors.forEach((t, i) => {
    if (t.device !== device) throw new RangeError(`${what}: example input "${ordered.names[i]}" is on ${t.device} but the module is on ${device}; move one of them`);
  });
  // A running Trainer.fit owns the module (train mode, weights moving): wait for it (lib/models/ownership.ts).
  await useModules([module], async () => {
    const wasTraining = module.isTraining;
    if (wasTraining) module.eval();
    try {
      await nativeAsync(() => module.native.trace([...ordered.names], ordered.tensors.map((t) => t.native), path.resolve(file)));
    } finally {
      if (wasTraining) module.train(true);
    }
  });
}
