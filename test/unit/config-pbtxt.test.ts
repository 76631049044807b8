import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { UnsupportedError, renderConfigPbtxt, tritonDataType, type TritonModelConfig } from "../../lib";
import { parseTritonConfig, parseTritonConfigs, tritonParserMissing } from "../helpers/triton-config";
import { reportSkip } from "../helpers/skip";

const missing = tritonParserMissing();
const describeWithParser = missing ? describe.skip : describe;
if (missing) reportSkip(`skipped config.pbtxt parsing tests: ${missing}`);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-pbtxt-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const FULL: TritonModelConfig = {
  comments: ["Written by a test.", "Second line"],
  name: "bert_query",
  platform: "pytorch_libtorch",
  maxBatchSize: 16,
  inputs: [
    { name: "input_ids", dataType: "TYPE_INT64", dims: [-1] },
    { name: "attention_mask", dataType: "TYPE_INT64", dims: [-1] },
    { name: "pixel_values", dataType: "TYPE_FP16", dims: [3, 224, 224] },
  ],
  outputs: [
    { name: "OUTPUT__0", dataType: "TYPE_FP32", dims: [64] },
    { name: "OUTPUT__1", dataType: "TYPE_BF16", dims: [-1, 64] },
  ],
  instanceGroup: { kind: "KIND_GPU", count: 2, gpus: [0, 1], rateLimiterPriority: 1 },
  dynamicBatching: { preferredBatchSizes: [1, 2, 4, 8], maxQueueDelayMicroseconds: 100, priorityLevels: 2, defaultPriorityLevel: 1 },
  latestVersions: 2,
  parameters: { ENABLE_JIT_EXECUTOR: "false", INFERENCE_MODE: "true" },
};

describeWithParser("config.pbtxt parses with protobuf's text-format parser against Triton's model_config.proto", () => {
  test("every field written comes back as written (inputs, outputs, instances, batching, priorities, versions, parameters)", () => {
    const parsed = parseTritonConfig(write("full.pbtxt", renderConfigPbtxt(FULL)));
    expect(parsed.name).toBe("bert_query");
    expect(parsed.platform).toBe("pytorch_libtorch");
    expect(parsed.max_batch_size).toBe(16);
    expect(parsed.input.map((t) => [t.name, t.data_type, t.dims])).toEqual([
      ["input_ids", "TYPE_INT64", [-1]],
      ["attention_mask", "TYPE_INT64", [-1]],
      ["pixel_values", "TYPE_FP16", [3, 224, 224]],
    ]);
    expect(parsed.output.map((t) => [t.name, t.data_type, t.dims])).toEqual([
      ["OUTPUT__0", "TYPE_FP32", [64]],
      ["OUTPUT__1", "TYPE_BF16", [-1, 64]],
    ]);
    expect(parsed.instance_group).toEqual([{ kind: "KIND_GPU", count: 2, gpus: [0, 1], rate_limiter: { priority: 1 } }]);
    expect(parsed.dynamic_batching).toEqual({ preferred_batch_size: [1, 2, 4, 8], max_queue_delay_microseconds: 100, priority_levels: 2, default_priority_level: 1 });
    expect(parsed.version_policy).toEqual({ latest: { num_versions: 2 } });
    expect(parsed.parameters).toEqual({ ENABLE_JIT_EXECUTOR: { string_value: "false" }, INFERENCE_MODE: { string_value: "true" } });
  });

  test("a single input and output, CPU instances, no batching: no trailing commas, no dynamic_batching block", () => {
    const { dynamicBatching: _omitted, ...noBatching } = FULL;
    const text = renderConfigPbtxt({
      ...noBatching,
      maxBatchSize: 0,
      inputs: [{ name: "INPUT__0", dataType: "TYPE_FP32", dims: [-1, 8] }],
      outputs: [{ name: "OUTPUT__0", dataType: "TYPE_FP32", dims: [-1, 4] }],
      instanceGroup: { kind: "KIND_CPU", count: 1 },
      parameters: {},
    });
    expect(text).not.toMatch(/,\s*\]/);
    const parsed = parseTritonConfig(write("small.pbtxt", text));
    expect(parsed.max_batch_size).toBeUndefined();  // 0 is proto3's default: not serialised
    expect(parsed.input).toEqual([{ name: "INPUT__0", data_type: "TYPE_FP32", dims: [-1, 8] }]);
    expect(parsed.output).toEqual([{ name: "OUTPUT__0", data_type: "TYPE_FP32", dims: [-1, 4] }]);
    expect(parsed.instance_group).toEqual([{ kind: "KIND_CPU", count: 1 }]);
    expect(parsed.dynamic_batching).toBeUndefined();
    expect(parsed.parameters).toBeUndefined();
  });

  test("a per-item scalar output ([B] with batching) is dims [1] reshaped to []", () => {
    const text = renderConfigPbtxt({ ...FULL, outputs: [{ name: "OUTPUT__0", dataType: "TYPE_FP32", dims: [] }] });
    const parsed = parseTritonConfig(write("scalar.pbtxt", text));
    expect(parsed.output[0]?.dims).toEqual([1]);
    expect(parsed.output[0]?.reshape).toEqual({});  // shape [] is the proto default: an empty message
    expect(text).toMatch(/reshape: \{ shape: \[ \] \}/);
  });

  test("names with quotes, backslashes and non-ASCII characters are escaped and read back unchanged", () => {
    const name = 'we"ird\\name é→';
    const parsed = parseTritonConfig(write("escape.pbtxt", renderConfigPbtxt({ ...FULL, parameters: { [name]: name } })));
    expect(parsed.parameters).toEqual({ [name]: { string_value: name } });
  });

  test("the harness is strict: the seed's trailing comma after the last output does not parse", () => {
    // The seed appended "," after every tuple output, the last one included.
    const seedStyle = renderConfigPbtxt(FULL).replace(/(output \[[\s\S]*?\n  \})\n\]/, "$1,\n]");
    expect(seedStyle).toMatch(/\},\n\]/);
    expect(() => parseTritonConfig(write("bad.pbtxt", seedStyle))).toThrow(/does not parse with Triton's schema: .*bad\.pbtxt: \d+:\d+/);
  });
});

describe("tritonDataType", () => {
  test.each([
    ["bool", "TYPE_BOOL"],
    ["uint8", "TYPE_UINT8"],
    ["Char", "TYPE_INT8"],
    ["Short", "TYPE_INT16"],
    ["int32", "TYPE_INT32"],
    ["int64", "TYPE_INT64"],
    ["float16", "TYPE_FP16"],
    ["bfloat16", "TYPE_BF16"],
    ["float32", "TYPE_FP32"],
    ["float64", "TYPE_FP64"],
  ])("%s is %s", (dtype, type) => {
    expect(tritonDataType(dtype, "input")).toBe(type);
  });

  test.each(["ComplexFloat", "QInt8", "toString", ""])("%j is an UnsupportedError naming it, never a silent TYPE_FP32", (dtype) => {
    expect(() => tritonDataType(dtype, 'output 0 of "m"')).toThrow(UnsupportedError);
    expect(() => tritonDataType(dtype, 'output 0 of "m"')).toThrow(`output 0 of "m" has dtype ${dtype}, which config.pbtxt cannot describe`);
  });
});
