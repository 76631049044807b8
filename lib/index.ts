/**
 * embeddings-torch: fine-tune, run and export two-tower embedding models from
 * Node.js on libtorch.
 */
export { Tensor, type TensorOptions } from "./tensor";
export { Module, type HostArray, type ModuleInput, type ModuleInputs, type ModuleOutput, type ParameterInfo, type ForwardOptions } from "./module";
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
  TraceError,
  DeployedVersionError,
  HubError,
  RepositoryError,
  NonFiniteLossError,
  DistributedError,
  type ErrorCode,
} from "./errors";
export { runtimeInfo } from "./runtime";
import { checkAddon } from "./native";
export type { LoadEnvironment } from "./native";
export { EmbeddingsModelInterface, LightningModule, type OptimizerConfig } from "./interface";
export { TextTokenizer, TokenizerFileError, type BatchEncoding, type TokenizerOptions } from "./tokenization";
export { cat } from "./ops";
export { hubCacheDir, type HubOptions, type DownloadProgress } from "./hub/hub-settings";
export { readSafetensors, writeSafetensors, type SafetensorsFile, type SafetensorsEntry } from "./hub/safetensors";
export { backward, namedGradients } from "./autograd";
export { ImageProcessor, ImageError, type ImageInput, type PixelValues, type PreprocessOptions } from "./images";
export { saveTorchScript, type ExampleInputs, type SaveTorchScriptOptions } from "./trace";
export * from "./inference/triton";
export * from "./models";
export * from "./training";

// The addon is found and checked when the package is required (its libtorch
// and what that needs are looked up, not loaded): a missing or mismatched
// libtorch is an AddonLoadError here, not at the first forward. libtorch
// itself loads at the first call that needs it.
checkAddon();
