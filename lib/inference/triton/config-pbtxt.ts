/**
 * Triton's model configuration (model_config.proto's ModelConfig, the fields
 * this package writes) and its protobuf text format, config.pbtxt. The
 * renderer writes list elements separated by commas and nothing after the
 * last (the seed wrote a trailing comma, which Triton rejects).
 */
import { UnsupportedError } from "../../errors";

export type TritonDataType =
  | "TYPE_BOOL"
  | "TYPE_UINT8"
  | "TYPE_INT8"
  | "TYPE_INT16"
  | "TYPE_INT32"
  | "TYPE_INT64"
  | "TYPE_FP16"
  | "TYPE_FP32"
  | "TYPE_FP64"
  | "TYPE_BF16";

/**
 * libtorch dtype -> Triton data type: the pairs Triton's pytorch backend
 * converts. Outputs may carry dtypes the TypeScript DType union lacks: the
 * addon names those as c10 does ("Char", "Short").
 */
const TRITON_TYPES: Readonly<Record<string, TritonDataType>> = {
  bool: "TYPE_BOOL",
  uint8: "TYPE_UINT8",
  Char: "TYPE_INT8",
  Short: "TYPE_INT16",
  int32: "TYPE_INT32",
  int64: "TYPE_INT64",
  float16: "TYPE_FP16",
  float32: "TYPE_FP32",
  float64: "TYPE_FP64",
  bfloat16: "TYPE_BF16",
};

/**
 * The Triton data type of a libtorch dtype.
 * @throws UnsupportedError naming `what` for a dtype Triton's pytorch backend does not carry (never a silent FP32).
 */
export function tritonDataType(dtype: string, what: string): TritonDataType {
  const type = Object.prototype.hasOwnProperty.call(TRITON_TYPES, dtype) ? TRITON_TYPES[dtype] : undefined;
  if (type === undefined)
    throw new UnsupportedError(`${what} has dtype ${dtype}, which config.pbtxt cannot describe for the pytorch_libtorch backend; supported: ${Object.keys(TRITON_TYPES).join(", ")}`);
  return type;
}

export interface TritonTensorConfig {
  readonly name: string;
  readonly dataType: TritonDataType;
  /** Without the batch dimension when maxBatchSize > 0; -1 where the size varies. */
  readonly dims: readonly number[];
}

export interface TritonInstanceGroup {
  readonly kind: "KIND_GPU" | "KIND_CPU";
  readonly count: number;
  /** GPU indices (KIND_GPU only); all visible GPUs when absent. */
  readonly gpus?: readonly number[];
  /** Rate limiter weight across models (1 is served first); effective with tritonserver --rate-limit=execution_count. */
  readonly rateLimiterPriority?: number;
}

export interface TritonDynamicBatching {
  readonly preferredBatchSizes: readonly number[];
  readonly maxQueueDelayMicroseconds: number;
  /** Levels 1..priorityLevels; 1 is served first. */
  readonly priorityLevels: number;
  /** The level of requests that set no priority. */
  readonly defaultPriorityLevel: number;
}

export interface TritonModelConfig {
  readonly name: string;
  readonly platform: "pytorch_libtorch";
  /** 0: no batching by Triton (dims are full shapes). */
  readonly maxBatchSize: number;
  readonly inputs: readonly TritonTensorConfig[];
  readonly outputs: readonly TritonTensorConfig[];
  readonly instanceGroup: TritonInstanceGroup;
  readonly dynamicBatching?: TritonDynamicBatching;
  /** version_policy latest { num_versions } */
  readonly latestVersions: number;
  /** parameters map (string values), e.g. ENABLE_JIT_EXECUTOR. */
  readonly parameters: Readonly<Record<string, string>>;
  /** `#` comment lines written at the top (who wrote it, what it serves). */
  readonly comments?: readonly string[];
}

/** A protobuf text-format string literal. */
export function quote(value: string): string {
  let out = '"';
  for (const byte of Buffer.from(value, "utf8")) {
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += "\\\\";
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${byte.toString(8).padStart(3, "0")}`;  // octal escapes keep the file ASCII
  }
  return `${out}"`;
}

function list(values: readonly number[]): string {
  return `[ ${values.join(", ")} ]`;
}

function tensorBlock(t: TritonTensorConfig, batched: boolean): string[] {
  const lines = ["  {", `    name: ${quote(t.name)}`, `    data_type: ${t.dataType}`];
  // Triton wants non-empty dims; a per-item scalar ([B] with batching) is dims [1] reshaped to [].
  if (t.dims.length === 0 && batched) lines.push("    dims: [ 1 ]", "    reshape: { shape: [ ] }");
  else lines.push(`    dims: ${list(t.dims)}`);
  lines.push("  }");
  return lines;
}

function tensorList(field: "input" | "output", tensors: readonly TritonTensorConfig[], batched: boolean): string[] {
  const blocks = tensors.map((t) => tensorBlock(t, batched));
  const lines = [`${field} [`];
  blocks.forEach((block, i) => {
    if (i < blocks.length - 1) block[block.length - 1] += ",";
    lines.push(...block);
  });
  lines.push("]");
  return lines;
}

/** The config as protobuf text (config.pbtxt), ending with a newline. */
export function renderConfigPbtxt(config: TritonModelConfig): string {
  const batched = config.maxBatchSize > 0;
  const lines: string[] = (config.comments ?? []).map((c) => `# ${c.replace(/[\r\n]+/g, " ")}`);
  lines.push(`name: ${quote(config.name)}`, `platform: ${quote(config.platform)}`, `max_batch_size: ${config.maxBatchSize}`);
  lines.push(...tensorList("input", config.inputs, batched), ...tensorList("output", config.outputs, batched));
  const group = config.instanceGroup;
  lines.push("instance_group [", "  {", `    kind: ${group.kind}`, `    count: ${group.count}`);
  if (group.gpus !== undefined && group.gpus.length > 0) lines.push(`    gpus: ${list(group.gpus)}`);
  if (group.rateLimiterPriority !== undefined) lines.push(`    rate_limiter { priority: ${group.rateLimiterPriority} }`);
  lines.push("  }", "]");
  const batching = config.dynamicBatching;
  if (batching !== undefined) {
    lines.push("dynamic_batching {");
    if (batching.preferredBatchSizes.length > 0) lines.push(`  preferred_batch_size: ${list(batching.preferredBatchSizes)}`);
    lines.push(
      `  max_queue_delay_microseconds: ${batching.maxQueueDelayMicroseconds}`,
      `  priority_levels: ${batching.priorityLevels}`,
      `  default_priority_level: ${batching.defaultPriorityLevel}`,
      "}",
    );
  }
  lines.push(`version_policy { latest { num_versions: ${config.latestVersions} } }`);
  for (const [key, value] of Object.entries(config.parameters)) {
    lines.push("parameters {", `  key: ${quote(key)}`, `  value { string_value: ${quote(value)} }`, "}");
  }
  return `${lines.join("\n")}\n`;
}
