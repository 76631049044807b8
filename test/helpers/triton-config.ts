/**
 * Parses config.pbtxt files the way Triton does: protobuf's text-format
 * parser against Triton's own schema (test/fixtures/triton/model_config.proto,
 * compiled with protoc at test time), in Debian's Python. A file that parses
 * here is valid protobuf text for Triton; the parsed message is returned as
 * JSON (field names as in the proto).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { FIXTURES } from "./fixtures";
import { PYTHON } from "./python";

/** model_config.proto: $EMBEDDINGS_TORCH_TRITON_PROTO (the file, or its folder), else test/fixtures/triton. */
export const TRITON_PROTO = (() => {
  const given = process.env.EMBEDDINGS_TORCH_TRITON_PROTO;
  if (given !== undefined && given !== "")
    return fs.existsSync(given) && fs.statSync(given).isDirectory() ? path.join(path.resolve(given), "model_config.proto") : path.resolve(given);
  return path.join(FIXTURES, "triton", "model_config.proto");
})();
export const PROTOC = process.env.EMBEDDINGS_TORCH_PROTOC ?? "protoc";

/** Why configs cannot be parsed here (a tool is not installed), or undefined. A missing proto is not a reason: parsing fails naming it. */
export function tritonParserMissing(): string | undefined {
  try {
    execFileSync(PROTOC, ["--version"], { stdio: "pipe" });
  } catch (error) {
    return `${PROTOC} is not runnable (apt-get install -y protobuf-compiler): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
  }
  try {
    execFileSync(PYTHON, ["-c", "import google.protobuf"], { stdio: "pipe" });
  } catch (error) {
    return `${PYTHON} cannot import google.protobuf (apt-get install -y python3-protobuf): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
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
  if (!fs.existsSync(TRITON_PROTO)) throw new Error(`Triton's schema is missing: ${TRITON_PROTO} (set EMBEDDINGS_TORCH_TRITON_PROTO to model_config.proto)`);
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

export interface ServedCheck {
  /** forward's argument names in PyTorch. */
  readonly arguments: string[];
  /** "names" (forward's argument names) or "index" (INPUT__<i>). */
  readonly convention: "names" | "index";
  /** Per length tried: the output shapes PyTorch returned. */
  readonly outputShapes: number[][][];
}

const SERVE_SCRIPT = `
import json, sys, torch
sys.path.insert(0, sys.argv[1])
import model_config_pb2
from google.protobuf import text_format
cfg = model_config_pb2.ModelConfig()
text_format.Parse(open(sys.argv[2], encoding="utf-8").read(), cfg)
m = torch.jit.load(sys.argv[3])
m.eval()
batch = int(sys.argv[4])
lengths = [int(x) for x in sys.argv[5].split(",")]
TYPES = {"TYPE_BOOL": torch.bool, "TYPE_UINT8": torch.uint8, "TYPE_INT8": torch.int8, "TYPE_INT16": torch.int16,
         "TYPE_INT32": torch.int32, "TYPE_INT64": torch.int64, "TYPE_FP16": torch.float16, "TYPE_FP32": torch.float32,
         "TYPE_FP64": torch.float64, "TYPE_BF16": torch.bfloat16}
name_of = model_config_pb2.DataType.Name
args = [a.name for a in m.forward.schema.arguments][1:]
names = [i.name for i in cfg.input]
def fail(msg):
    sys.stderr.write(msg + "\\n"); sys.exit(4)
if all(n in args for n in names):
    convention = "names"
elif all(n.startswith("INPUT__") and n[7:].isdigit() and int(n[7:]) < len(args) for n in names):
    convention = "index"
else:
    fail("config inputs %s are neither forward's arguments %s nor INPUT__<index>" % (names, args))
batched = cfg.max_batch_size > 0
shapes = []
torch.manual_seed(0)
for length in lengths:
    inputs = {}
    for i in cfg.input:
        shape = ([batch] if batched else []) + [length if d == -1 else d for d in i.dims]
        dtype = TYPES[name_of(i.data_type)]
        # ids 1 and mask 1 are valid for any vocabulary; floats are noise
        inputs[i.name] = torch.randn(shape).to(dtype) if dtype.is_floating_point else torch.ones(shape, dtype=dtype)
    with torch.no_grad():
        if convention == "names":
            y = m(**inputs)
        else:
            y = m(*[inputs[n] for n in sorted(names, key=lambda n: int(n[7:]))])
    ys = list(y) if isinstance(y, (tuple, list)) else [y]
    if len(ys) != len(cfg.output):
        fail("forward returned %d tensors, config lists %d outputs" % (len(ys), len(cfg.output)))
    got = []
    for k, (o, t) in enumerate(zip(cfg.output, ys)):
        if o.name != "OUTPUT__%d" % k:
            fail("output %d is named %s, not OUTPUT__%d" % (k, o.name, k))
        if TYPES[name_of(o.data_type)] != t.dtype:
            fail("output %s: config %s, model %s" % (o.name, name_of(o.data_type), t.dtype))
        dims = list(o.reshape.shape) if o.HasField("reshape") else list(o.dims)
        want = ([batch] if batched else []) + dims
        if len(want) != t.dim() or any(w != -1 and w != s for w, s in zip(want, t.shape)):
            fail("output %s at length %d: config says %s, model returned %s" % (o.name, length, want, list(t.shape)))
        got.append(list(t.shape))
    shapes.append(got)
print(json.dumps({"arguments": args, "convention": convention, "outputShapes": shapes}))
`;

/**
 * Serves a config.pbtxt to its model.pt the way Triton's pytorch backend
 * would, in PyTorch: builds inputs from the config's names, data types and
 * dims (-1 as each of `lengths`, batch `batch` in front when batched), calls
 * forward by argument name or by INPUT__<index>, and checks every output's
 * name, data type and dims against what forward returned.
 * @throws Error with the first disagreement.
 */
export function serveConfigInPyTorch(configFile: string, modelFile: string, batch: number, lengths: readonly number[]): ServedCheck {
  if (!fs.existsSync(TRITON_PROTO)) throw new Error(`Triton's schema is missing: ${TRITON_PROTO} (set EMBEDDINGS_TORCH_TRITON_PROTO to model_config.proto)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-triton-serve-"));
  try {
    execFileSync(PROTOC, [`--proto_path=${path.dirname(TRITON_PROTO)}`, `--python_out=${dir}`, path.basename(TRITON_PROTO)], { stdio: "pipe" });
    const script = path.join(dir, "serve.py");
    fs.writeFileSync(script, SERVE_SCRIPT);
    try {
      const stdout = execFileSync(PYTHON, [script, dir, configFile, modelFile, String(batch), lengths.join(",")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      return JSON.parse(stdout) as ServedCheck;
    } catch (error) {
      throw new Error(`config.pbtxt and model.pt disagree: ${(error as { stderr?: string }).stderr ?? String(error)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
