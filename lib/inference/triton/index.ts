/** Triton model repositories: storage managers, config.pbtxt, export of both towers. */
export {
  ModelStorageInfo,
  TritonModelStorageManager,
  type ModelStorageInfoOptions,
  type SaveModelOptions,
  type TritonModelStorageManagerClass,
  type TritonRole,
} from "./storage-manager";
export { JitTraceTritonModelStorageManager, type JitTraceOptions } from "./jit-trace-storage-manager";
export { renderConfigPbtxt, tritonDataType, type TritonModelConfig, type TritonTensorConfig, type TritonDataType } from "./config-pbtxt";
export { exportToTriton, type ExportToTritonOptions, type TritonExport } from "./export";
