/**
 * embeddings-torch: fine-tune, run and export two-tower embedding models from
 * Node.js on libtorch.
 */
export { Tensor, type TensorOptions } from "./tensor";
export { Module, type ModuleInputs, type ModuleOutput, type ParameterInfo, type ForwardOptions } from "./module";
export { cuda, manualSeed, setNumThreads, getNumThreads, type Device } from "./device";
export type { DType, TensorData } from "./dtypes";
export {
  TorchError,
  ShapeError,
  DeviceError,
  CheckpointError,
  DisposedError,
  BusyError,
  AddonLoadError,
  UnsupportedError,
  type ErrorCode,
} from "./errors";
export { runtimeInfo } from "./runtime";
export { readSafetensors, writeSafetensors, type SafetensorsFile, type SafetensorsEntry } from "./hub/safetensors";
export * from "./training";
