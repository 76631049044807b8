/**
 * Parses config.pbtxt files the way Triton does: protobuf's text-format
 * parser against Triton's own schema (shared/triton/model_config.proto,
 * compiled with protoc at test time), in Debian's Python. A file that parses
 * here is valid protobuf text for Triton; the parsed message is returned as
 * JSON (field names as in the proto).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { PYTHON } from "./python";

/** model_config.proto: EMBEDDINGS_TORCH_TRITON_PROTO (the file, or its folder), else <repo>/../shared/triton. */
export const TRITON_PROTO = (() => {
  const given = process.env.EMBEDDINGS_TORCH_TRITON_PROTO;
  if (given === undefined || given === "") return path.resolve(__dirname, "../../../shared/triton/model_config.proto");
  return fs.existsSync(given) && fs.statSync(given).isDirectory() ? path.join(path.resolve(given), "model_config.proto") : path.resolve(given);
})();
export const PROTOC = process.env.EMBEDDINGS_TORCH_PROTOC ?? "protoc";

/** Why configs cannot be parsed here, or undefined. */
export function tritonParserMissing(): string | undefined {
  if (!fs.existsSync(TRITON_PROTO)) return `${TRITON_PROTO} does not exist (set EMBEDDINGS_TORCH_TRITON_PROTO)`;
  try {
    execFileSync(PROTOC, ["--version"], { stdio: "pipe" });
  } catch {
    return `${PROTOC} is not runnable (apt-get install -y protobuf-compiler)`;
  }
  try {
    execFileSync(PYTHON, ["-c", "import google.protobuf"], { stdio: "pipe" });
  } catch {
    return `${PYTHON} cannot import google.protobuf (apt-get install -y python3-protobuf)`;
  }
  return undefined;
}

/** A parsed tensor entry (int64 fields arrive as strings in protobuf JSON; converted to numbers). */
export interface ParsedTensor {
  name: string;
  data_type: string;
  dims: number[];
  reshape?: { shape?: number[] };
}

export interface ParsedConfig {
  name: string;
  platform: string;
  max_batch_size?: number;
  input: ParsedTensor[];
  output: ParsedTensor[];
  instance_group: { kind: string; count: number; gpus?: number[]; rate_limiter?: { priority?: number } }[];
  dynamic_batching?: {
    preferred_batch_size?: number[];
    max_queue_delay_microseconds?: number;
    priority_levels?: number;
    default_priority_level?: number;
  };
  version_policy?: { latest?: { num_versions?: number } };
  parameters?: Record<string, { string_value: string }>;
}

const SCRIPT = `
import json, sys
sys.path.insert(0, sys.argv[1])
import model_config_pb2
from google.protobuf import json_format, text_format
out = []
for f in sys.argv[2:]:
    msg = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(open(f, encoding="utf-8").read(), msg)
    except text_format.ParseError as e:
        sys.stderr.write("%s: %s\\n" % (f, e))
        sys.exit(3)
    out.append(json_format.MessageToDict(msg, preserving_proto_field_name=True))
print(json.dumps(out))
`;

function numbers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(numbers);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return Number(value);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "string_value" || k === "name" ? v : numbers(v)]));
  return value;
}

/**
 * Parses config.pbtxt files with Triton's schema.
 * @throws Error with protobuf's message (file, line, column) when one does not parse.
 */
export function parseTritonConfigs(files: readonly string[]): ParsedConfig[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-triton-proto-"));
  try {
    execFileSync(PROTOC, [`--proto_path=${path.dirname(TRITON_PROTO)}`, `--python_out=${dir}`, path.basename(TRITON_PROTO)], { stdio: "pipe" });
    const script = path.join(dir, "parse.py");
    fs.writeFileSync(script, SCRIPT);
    let stdout: string;
    try {
      stdout = execFileSync(PYTHON, [script, dir, ...files], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      throw new Error(`config.pbtxt does not parse with Triton's schema: ${(error as { stderr?: string }).stderr ?? String(error)}`);
    }
    return (JSON.parse(stdout) as unknown[]).map((c) => numbers(c) as ParsedConfig);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function parseTritonConfig(file: string): ParsedConfig {
  return parseTritonConfigs([file])[0] as ParsedConfig;
}
