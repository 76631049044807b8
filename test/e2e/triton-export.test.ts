/**
 * JitTraceTritonModelStorageManager: what it writes into a Triton repository
 * (checked with Triton's schema and by serving config.pbtxt to model.pt in
 * PyTorch), and that a deployed version or a failed export never leaves the
 * repository different from before.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import {
  DeployedVersionError,
  JitTraceTritonModelStorageManager,
  Module,
  ModelStorageInfo,
  ShapeError,
  Tensor,
  TraceError,
  UnsupportedError,
  type JitTraceOptions,
} from "../../lib";
import { maxAbsDiff } from "../helpers/fixtures";
import { pythonTorchMissing, runPython } from "../helpers/python";
import { reportSkip } from "../helpers/skip";
import { parseTritonConfig, parseTritonConfigs, serveConfigInPyTorch, tritonParserMissing } from "../helpers/triton-config";
import { disposeAll, referenceMaskedMean, tokenBatch, tokenTensors } from "../helpers/token-batches";

const missing = pythonTorchMissing() ?? tritonParserMissing();
const describeWithTools = missing ? describe.skip : describe;
if (missing) reportSkip(`skipped Triton export tests: ${missing}`);

let root: string;
let counter = 0;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "et-triton-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A fresh repository folder per test. */
function repository(): string {
  const dir = path.join(root, `repo${++counter}`);
  fs.mkdirSync(dir);
  return dir;
}

/** Every entry under `dir` (hidden ones too): path, kind, size, mtime and content hash. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const file = path.join(rel, entry.name);
      const stat = fs.statSync(path.join(dir, file));
      if (entry.isDirectory()) {
        out.push(`${file}/`);
        walk(file);
      } else out.push(`${file} ${stat.size} ${stat.mtimeMs} ${createHash("sha256").update(fs.readFileSync(path.join(dir, file))).digest("hex")}`);
    }
  };
  walk("");
  return out.sort();
}

function modelFile(info: ModelStorageInfo): string {
  return path.join(info.versionDir, "model.pt");
}

function maskedMean(options: Record<string, number | boolean> = {}): Module {
  return Module.create("masked-mean", { vocab_size: 40, hidden_size: 16, ...options });
}

async function exportMaskedMean(info: ModelStorageInfo, model: Module, options: JitTraceOptions = {}, namedInputs = true, overwrite = false): Promise<void> {
  const example = tokenTensors(tokenBatch(2, 12, 40, 5));
  try {
    await new JitTraceTritonModelStorageManager(info, options).saveModel(model, example, namedInputs, { overwrite });
  } finally {
    disposeAll(example);
  }
}

describeWithTools("JitTraceTritonModelStorageManager", () => {
  test("writes <name>/1/model.pt and <name>/config.pbtxt whose inputs, dtypes and dims are what the traced model accepts", async () => {
    const info = new ModelStorageInfo({ repository: repository(), modelName: "mm_items", version: 1 });
    using model = maskedMean();
    await exportMaskedMean(info, model);
    expect(fs.readdirSync(info.modelDir).sort()).toEqual(["1", "config.pbtxt"]);
    expect(fs.readdirSync(info.versionDir)).toEqual(["model.pt"]);
    const config = parseTritonConfig(info.configPath);
    expect(config.name).toBe("mm_items");
    expect(config.platform).toBe("pytorch_libtorch");
    expect(config.max_batch_size).toBe(16);
    expect(config.input).toEqual([
      { name: "input_ids", data_type: "TYPE_INT64", dims: [-1] },
      { name: "attention_mask", data_type: "TYPE_INT64", dims: [-1] },
    ]);
    expect(config.output).toEqual([{ name: "OUTPUT__0", data_type: "TYPE_FP32", dims: [16] }]);
    expect(config.instance_group).toEqual([{ kind: "KIND_CPU", count: 1, rate_limiter: { priority: 2 } }]);
    expect(config.dynamic_batching).toEqual({ preferred_batch_size: [1, 2, 4, 8], max_queue_delay_microseconds: 100, priority_levels: 2, default_priority_level: 2 });
    expect(config.version_policy).toEqual({ latest: { num_versions: 2 } });
    expect(config.parameters).toEqual({ ENABLE_JIT_EXECUTOR: { string_value: "false" } });
    // Triton's way in: inputs by forward's argument names, any length where dims say -1.
    const served = serveConfigInPyTorch(info.configPath, modelFile(info), 3, [5, 12, 20]);
    expect(served.convention).toBe("names");
    expect(served.arguments).toEqual(["input_ids", "attention_mask"]);
    expect(served.outputShapes).toEqual([[[3, 16]], [[3, 16]], [[3, 16]]]);
    // and the file computes the module's function at other batch sizes
    using traced = await Module.loadTorchScript(modelFile(info));
    const b = tokenBatch(17, 5, 40, 77);
    const inputs = tokenTensors(b);
    using got = await traced.forwardTensor(inputs);
    disposeAll(inputs);
    expect(maxAbsDiff(got.toFloat32Array(), referenceMaskedMean(model, b))).toBeLessThan(1e-6);
  });

  test("positional inputs are INPUT__0, INPUT__1 in forward's order; fixedLength keeps the example's length", async () => {
    const repo = repository();
    using model = maskedMean();
    const positional = new ModelStorageInfo({ repository: repo, modelName: "positional" });
    const fixed = new ModelStorageInfo({ repository: repo, modelName: "fixed" });
    await exportMaskedMean(positional, model, {}, false);
    await exportMaskedMean(fixed, model, { fixedLength: true });
    const [p, f] = parseTritonConfigs([positional.configPath, fixed.configPath]);
    expect(p?.input.map((i) => [i.name, i.dims])).toEqual([["INPUT__0", [-1]], ["INPUT__1", [-1]]]);
    expect(serveConfigInPyTorch(positional.configPath, modelFile(positional), 2, [7]).convention).toBe("index");
    expect(f?.input.map((i) => [i.name, i.dims])).toEqual([["input_ids", [12]], ["attention_mask", [12]]]);
    expect(serveConfigInPyTorch(fixed.configPath, modelFile(fixed), 4, [12]).outputShapes).toEqual([[[4, 16]]]);
  });

  test("a float input (MLP [B, 8]) keeps its dims, and serving options reach config.pbtxt", async () => {
    const info = new ModelStorageInfo({ repository: repository(), modelName: "mlp" });
    using model = Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
    using x = Tensor.from(new Float32Array(24).fill(0.5), [3, 8]);
    const manager = new JitTraceTritonModelStorageManager(info, { maxBatchSize: 4, instanceCount: 3, dynamicBatching: { maxQueueDelayMicroseconds: 500 }, latestVersions: 1, jitExecutor: true });
    await manager.saveModel(model, { input: x }, true);
    const config = parseTritonConfig(info.configPath);
    expect(config.max_batch_size).toBe(4);
    expect(config.input).toEqual([{ name: "input", data_type: "TYPE_FP32", dims: [8] }]);
    expect(config.output).toEqual([{ name: "OUTPUT__0", data_type: "TYPE_FP32", dims: [4] }]);
    expect(config.instance_group[0]?.count).toBe(3);
    expect(config.dynamic_batching).toEqual({ preferred_batch_size: [1, 2, 4], max_queue_delay_microseconds: 500, priority_levels: 2, default_priority_level: 2 });
    expect(config.version_policy).toEqual({ latest: { num_versions: 1 } });
    expect(config.parameters).toEqual({ ENABLE_JIT_EXECUTOR: { string_value: "true" } });
    expect(serveConfigInPyTorch(info.configPath, modelFile(info), 2, [1]).outputShapes).toEqual([[[2, 4]]]);
  });

  test("queries outrank items: the query model's requests default to level 1 of 2, items' to 2; a shared model defaults to items and says so", async () => {
    const repo = repository();
    using model = maskedMean();
    const example = tokenTensors(tokenBatch(2, 6, 40, 9));
    const names = { query: "q", items: "i", shared: "s" } as const;
    for (const role of ["query", "items", "shared"] as const) {
      const Manager = JitTraceTritonModelStorageManager.forRole(role);
      await new Manager(new ModelStorageInfo({ repository: repo, modelName: names[role] })).saveModel(model, example, true);
    }
    // SaveModelOptions.role overrides the class default
    const Items = JitTraceTritonModelStorageManager.forRole("items");
    await new Items(new ModelStorageInfo({ repository: repo, modelName: "override" })).saveModel(model, example, true, { role: "query" });
    await expect(new Items(new ModelStorageInfo({ repository: repo, modelName: "bad" })).saveModel(model, example, true, { role: "toString" as "query" })).rejects.toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringContaining('role must be "query", "items" or "shared" but received string "toString"') }),
    );
    disposeAll(example);
    const [q, i, s, o] = parseTritonConfigs(["q", "i", "s", "override"].map((n) => path.join(repo, n, "config.pbtxt")));
    const levels = [q, i, s, o].map((c) => [c?.dynamic_batching?.priority_levels, c?.dynamic_batching?.default_priority_level, c?.instance_group[0]?.rate_limiter?.priority]);
    expect(levels).toEqual([
      [2, 1, 1],
      [2, 2, 2],
      [2, 2, 1],
      [2, 1, 1],
    ]);
    expect(fs.readFileSync(path.join(repo, "s", "config.pbtxt"), "utf8")).toMatch(/# Role: shared\. This one model serves queries and items .*send query requests with priority 1/);
  });

  test("a second saveModel on a deployed version is a DeployedVersionError and leaves its files (content and mtime) untouched", async () => {
    const info = new ModelStorageInfo({ repository: repository(), modelName: "deployed", version: 3 });
    using first = maskedMean();
    await exportMaskedMean(info, first);
    const before = snapshot(info.repository);
    using second = maskedMean({ hidden_size: 8 });  // other weights and dims: a rewrite would show
    const attempt = exportMaskedMean(info, second);
    await expect(attempt).rejects.toThrow(DeployedVersionError);
    await expect(exportMaskedMean(info, second)).rejects.toThrow(
      expect.objectContaining({ code: "ERR_DEPLOYED", message: expect.stringMatching(/saveModel\("deployed", version 3\): version 3 of "deployed" is already deployed at .*deployed\/3; it was left untouched.*overwrite: true/) }),
    );
    expect(snapshot(info.repository)).toEqual(before);
    expect(new JitTraceTritonModelStorageManager(info).isModelDeployed()).toBe(true);
  });

  test("overwrite: true replaces the version with the new model and leaves no temporary entries", async () => {
    const info = new ModelStorageInfo({ repository: repository(), modelName: "replaced" });
    using first = maskedMean();
    using second = maskedMean();
    await exportMaskedMean(info, first);
    await exportMaskedMean(info, second, {}, true, true);
    expect(fs.readdirSync(info.modelDir).sort()).toEqual(["1", "config.pbtxt"]);
    using traced = await Module.loadTorchScript(modelFile(info));
    const b = tokenBatch(3, 8, 40, 21);
    const inputs = tokenTensors(b);
    using got = await traced.forwardTensor(inputs);
    disposeAll(inputs);
    expect(maxAbsDiff(got.toFloat32Array(), referenceMaskedMean(second, b))).toBeLessThan(1e-6);
    expect(maxAbsDiff(got.toFloat32Array(), referenceMaskedMean(first, b))).toBeGreaterThan(1e-3);
  });

  test("a write failing half-way through config.pbtxt leaves the repository exactly as it was (deployed version 1 kept, no version 2, no temporary files)", async () => {
    const repo = repository();
    using model = maskedMean();
    await exportMaskedMean(new ModelStorageInfo({ repository: repo, modelName: "m", version: 1 }), model);
    const before = snapshot(repo);
    class FailingDisk extends JitTraceTritonModelStorageManager {
      protected override async writeConfigFile(file: string, text: string): Promise<void> {
        fs.writeFileSync(file, text.slice(0, text.length / 2));  // half of it reached the disk
        throw Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: "ENOSPC" });
      }
    }
    const example = tokenTensors(tokenBatch(2, 12, 40, 5));
    const info = new ModelStorageInfo({ repository: repo, modelName: "m", version: 2 });
    await expect(new FailingDisk(info).saveModel(model, example, true)).rejects.toThrow(/ENOSPC: no space left on device/);
    // a fresh model name: even its folder goes away again
    await expect(new FailingDisk(new ModelStorageInfo({ repository: repo, modelName: "fresh" })).saveModel(model, example, true)).rejects.toThrow(/ENOSPC/);
    disposeAll(example);
    expect(snapshot(repo)).toEqual(before);
  });

  test("a trace that fails leaves the repository as it was (ShapeError from the model)", async () => {
    const repo = repository();
    using model = maskedMean();
    using ids = Tensor.from(new BigInt64Array(6).fill(1n), [2, 3]);
    using mask = Tensor.from(new BigInt64Array(8).fill(1n), [2, 4]);
    const manager = new JitTraceTritonModelStorageManager(new ModelStorageInfo({ repository: repo, modelName: "broken" }));
    await expect(manager.saveModel(model, { input_ids: ids, attention_mask: mask }, true)).rejects.toThrow(ShapeError);
    expect(snapshot(repo)).toEqual([]);
  });

  test("a model whose forward reads sizes as C++ integers is refused with a TraceError naming the failing shape, and nothing is written", async () => {
    const repo = repository();
    using model = maskedMean({ freeze_sizes: true });
    const info = new ModelStorageInfo({ repository: repo, modelName: "frozen" });
    const attempt = exportMaskedMean(info, model);
    await expect(attempt).rejects.toThrow(TraceError);
    await expect(exportMaskedMean(info, model)).rejects.toThrow(
      expect.objectContaining({ code: "ERR_TRACE", message: expect.stringMatching(/the traced module fails on batch 3 \(input_ids \[3, 12\], attention_mask \[3, 12\]\): [\s\S]*shape '\[2, 12, 16\]' is invalid[\s\S]*reads a size as a C\+\+ integer/) }),
    );
    // the same model traced with a fixed length still fails on batch size: Triton batches
    await expect(exportMaskedMean(info, model, { fixedLength: true })).rejects.toThrow(TraceError);
    expect(snapshot(repo)).toEqual([]);
  });

  test("config.pbtxt serving other deployed versions is not changed by an export with other dims, unless overwrite", async () => {
    const repo = repository();
    using model = maskedMean();
    using smaller = maskedMean({ hidden_size: 8 });
    await exportMaskedMean(new ModelStorageInfo({ repository: repo, modelName: "m", version: 1 }), model);
    await exportMaskedMean(new ModelStorageInfo({ repository: repo, modelName: "m", version: 2 }), model);  // same config: fine
    const before = snapshot(repo);
    await expect(exportMaskedMean(new ModelStorageInfo({ repository: repo, modelName: "m", version: 3 }), smaller)).rejects.toThrow(
      expect.objectContaining({ name: "DeployedVersionError", message: expect.stringMatching(/config\.pbtxt serves deployed version\(s\) 1, 2 of "m" and this export would change it/) }),
    );
    expect(snapshot(repo)).toEqual(before);
    await exportMaskedMean(new ModelStorageInfo({ repository: repo, modelName: "m", version: 3 }), smaller, {}, true, true);
    expect(parseTritonConfig(path.join(repo, "m", "config.pbtxt")).output[0]?.dims).toEqual([8]);
  });

  test("outputs Triton cannot carry are an UnsupportedError and write nothing: a complex tensor, a dict", async () => {
    const repo = repository();
    const files = { complex: path.join(root, "complex.pt"), dict: path.join(root, "dict.pt") };
    runPython(
      `
import sys, torch
from typing import Dict
class C(torch.nn.Module):
    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return torch.complex(input_ids.float(), input_ids.float())
class D(torch.nn.Module):
    def forward(self, input_ids: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"ids": input_ids}
torch.jit.script(C()).save(sys.argv[1])
torch.jit.script(D()).save(sys.argv[2])
`,
      [files.complex, files.dict],
    );
    using ids = Tensor.from(new BigInt64Array([1n, 2n, 3n, 4n]), [2, 2]);
    using complex = await Module.loadTorchScript(files.complex);
    using dict = await Module.loadTorchScript(files.dict);
    const save = (module: Module, name: string) => new JitTraceTritonModelStorageManager(new ModelStorageInfo({ repository: repo, modelName: name })).saveModel(module, { input_ids: ids }, true);
    await expect(save(complex, "complex")).rejects.toThrow(UnsupportedError);
    await expect(save(complex, "complex")).rejects.toThrow(/output 0 has dtype ComplexFloat, which config.pbtxt cannot describe/);
    await expect(save(dict, "dict")).rejects.toThrow(expect.objectContaining({ name: "UnsupportedError", message: expect.stringMatching(/returns a dict; Triton's pytorch_libtorch backend serves a tensor or a tuple of tensors/) }));
    expect(snapshot(repo)).toEqual([]);
  });

  test("a TorchScript module (traced by PyTorch) is exported and described from its own forward (tuple outputs as OUTPUT__0, OUTPUT__1)", async () => {
    const file = path.join(root, "tuple.pt");
    runPython(
      `
import sys, torch
torch.manual_seed(0)
class T(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(30, 6)
    def forward(self, input_ids, attention_mask):
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1)
        return h.sum(1), h
torch.jit.trace(T().eval(), (torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.long))).save(sys.argv[1])
`,
      [file],
    );
    using module = await Module.loadTorchScript(file);
    const info = new ModelStorageInfo({ repository: repository(), modelName: "tuple" });
    const example = tokenTensors(tokenBatch(2, 5, 30, 3));
    await new JitTraceTritonModelStorageManager(info).saveModel(module, example, true);
    disposeAll(example);
    const config = parseTritonConfig(info.configPath);
    expect(config.output).toEqual([
      { name: "OUTPUT__0", data_type: "TYPE_FP32", dims: [6] },
      { name: "OUTPUT__1", data_type: "TYPE_FP32", dims: [-1, 6] },
    ]);
    expect(serveConfigInPyTorch(info.configPath, modelFile(info), 3, [4, 9]).outputShapes).toEqual([
      [[3, 6], [3, 4, 6]],
      [[3, 6], [3, 9, 6]],
    ]);
  });
});

describe("ModelStorageInfo refuses names and versions Triton rejects or that leave the repository", () => {
  test.each(["a/b", "..", "../x", ".hidden", "a b", "", "x\\y", "é"])("model name %j is a RangeError", (modelName) => {
    expect(() => new ModelStorageInfo({ repository: "/tmp/r", modelName })).toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringContaining(`model name ${JSON.stringify(modelName)} is not a Triton model name`) }),
    );
  });

  test.each([0, -1, 1.5, Number.NaN, 2 ** 60])("version %p is a RangeError", (version) => {
    expect(() => new ModelStorageInfo({ repository: "/tmp/r", modelName: "m", version })).toThrow(
      expect.objectContaining({ name: "RangeError", message: expect.stringContaining("version must be a positive integer") }),
    );
  });

  test("a model name that is not a string is a TypeError", () => {
    expect(() => new ModelStorageInfo({ repository: "/tmp/r", modelName: 5 as unknown as string })).toThrow(TypeError);
  });
});
