/**
 * Errors of item 6 of issue 12: every failure is one of the package's classes
 * (or a TypeError/RangeError for an argument), naming what was expected and
 * what was received.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as et from "../../lib";
import { readCheckpointWeights, readConfig } from "../../lib/hub/checkpoint";
import { checkTokenIds, tokenizerVocabularySize } from "../../lib/models/vocabulary";
import { readCheckpoint, writeCheckpoint } from "../../lib/training/checkpoint";
import { copyFixture } from "../helpers/checkpoints";
import { FIXTURES } from "../helpers/fixtures";

describe("error classes", () => {
  const temps: string[] = [];
  const temp = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-errors-"));
    temps.push(dir);
    return dir;
  };
  afterAll(() => temps.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  test("TokenizerFileError is exported and is a CheckpointError with code ERR_CHECKPOINT", async () => {
    const dir = copyFixture("bert-tiny");
    temps.push(dir);
    fs.writeFileSync(path.join(dir, "tokenizer.json"), "{broken");
    const error = await et.TextTokenizer.fromPretrained(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(et.TokenizerFileError);
    expect(error).toBeInstanceOf(et.CheckpointError);
    expect(error).toEqual(expect.objectContaining({ name: "TokenizerFileError", code: "ERR_CHECKPOINT", message: expect.stringContaining(path.join(dir, "tokenizer.json")) }));
  });

  test("Tensor.from refuses a SharedArrayBuffer's view and unsupported TypedArrays with a TypeError naming them", () => {
    const shared = new Float32Array(new SharedArrayBuffer(16));
    expect(() => et.Tensor.from(shared, [4])).toThrow(expect.objectContaining({ name: "TypeError", message: expect.stringMatching(/Float32Array over a SharedArrayBuffer/) }));
    for (const data of [new Int8Array(4), new Int16Array(4), new Uint32Array(4), new Uint8ClampedArray(4), new BigUint64Array(4), new Float32Array(4)]) {
      if (data instanceof Float32Array) continue;
      const kind = data.constructor.name;
      expect(() => et.Tensor.from(data as unknown as Float32Array, [4], { dtype: "float32" })).toThrow(expect.objectContaining({ name: "TypeError", message: expect.stringContaining(`a ${kind} has no tensor dtype`) }));
    }
  });

  test('config.json with hidden_size "64" is a CheckpointError naming the field, the file, the expected type and the value', async () => {
    const dir = copyFixture("bert-tiny");
    temps.push(dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, hidden_size: "64" }));
    await expect(readConfig(dir)).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: `${path.join(dir, "config.json")}: hidden_size must be a non-negative integer but is string "64"` }));
  });

  test("a shard index naming a file outside the model folder is refused", async () => {
    const dir = copyFixture("bert-tiny", ["model.safetensors"]);
    temps.push(dir);
    fs.copyFileSync(path.join(FIXTURES, "bert-tiny", "model.safetensors"), path.join(path.dirname(dir), `${path.basename(dir)}-outside.safetensors`));
    temps.push(path.join(path.dirname(dir), `${path.basename(dir)}-outside.safetensors`));
    for (const shard of [`../${path.basename(dir)}-outside.safetensors`, "/etc/passwd", "sub/model.safetensors"]) {
      fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "embeddings.word_embeddings.weight": shard } }));
      await expect(readCheckpointWeights(dir)).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringContaining(`shard ${JSON.stringify(shard)} is not a file name inside ${dir}`) }));
    }
  });

  test("a tokenizer with more ids than config.json's vocab_size is refused at load, naming both sizes", async () => {
    const dir = copyFixture("bert-tiny");
    temps.push(dir);
    const tokenizer = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")) as { model: { vocab: Record<string, number> } };
    const ids = Object.values(tokenizer.model.vocab).length;  // independent count: WordPiece ids are 0..n-1
    expect(await tokenizerVocabularySize(dir)).toBe(ids);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, vocab_size: ids - 10 }));
    await expect(et.TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(
      expect.objectContaining({ name: "CheckpointError", message: expect.stringContaining(`the tokenizer has ${ids} token ids but ${path.join(dir, "config.json")} says vocab_size ${ids - 10}`) }),
    );
  });

  test("token ids are checked before the forward, naming the id, its row and position and the vocabulary size", () => {
    expect(() => checkTokenIds(BigInt64Array.from([1n, 2n, 3n, 4n, 1500n, 5n]), 3, 1500, "forward")).toThrow(
      expect.objectContaining({ name: "RangeError", message: "forward: token id 1500 at row 1, position 1 is outside the model's vocabulary [0, 1500) (config.json vocab_size 1500)" }),
    );
    expect(() => checkTokenIds(BigInt64Array.from([-1n]), 1, 10, "forward")).toThrow(/token id -1 at row 0, position 0/);
    expect(() => checkTokenIds(BigInt64Array.from([0n, 9n]), 2, 10, "forward")).not.toThrow();
  });

  test("Module.forward checks token ids against the embedding table in native code (raw id tensors bypass the JS check), naming id, row, position and size", async () => {
    using bert = await et.TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"));
    const module = bert.getQueryModel();
    using ids = et.Tensor.from(BigInt64Array.from([101n, 7n, 102n, 101n, 1500n, 102n]), [2, 3]);
    using mask = et.Tensor.from(BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 1n]), [2, 3]);
    await expect(module.forward({ input_ids: ids, attention_mask: mask })).rejects.toThrow(
      expect.objectContaining({ name: "ShapeError", code: "ERR_SHAPE", message: expect.stringContaining("input_ids: token id 1500 at row 1, position 1 is outside [0, 1500) (config.json vocab_size)") }),
    );
    using types = et.Tensor.from(BigInt64Array.from([0n, 0n, 0n, 0n, 0n, 2n]), [2, 3]);
    using good = et.Tensor.from(BigInt64Array.from([101n, 7n, 102n, 101n, 8n, 102n]), [2, 3]);
    await expect(module.forward({ input_ids: good, attention_mask: mask, token_type_ids: types })).rejects.toThrow(/token_type_ids: token id 2 at row 1, position 2 is outside \[0, 2\)/);
    using negative = et.Tensor.from(BigInt64Array.from([101n, -3n, 102n]), [1, 3]);
    await expect(module.forward({ input_ids: negative })).rejects.toThrow(/token id -3 at row 0, position 1/);
    const fine = (await module.forward({ input_ids: good, attention_mask: mask })) as et.Tensor;
    expect(fine.shape[0]).toBe(2);
    fine.dispose();

    using clip = await et.TextToImageClipModel.fromPretrained(path.join(FIXTURES, "clip-tiny"));
    using clipIds = et.Tensor.from(BigInt64Array.from([0n, 800n, 2n]), [1, 3]);
    await expect(clip.getQueryModel().forward({ input_ids: clipIds })).rejects.toThrow(
      expect.objectContaining({ name: "ShapeError", message: expect.stringContaining("clip-text: input_ids: token id 800 at row 0, position 1 is outside [0, 800)") }),
    );
  });

  test("loadTorchScript of a file that is not a complete TorchScript archive is a CheckpointError naming the file", async () => {
    const dir = temp();
    const truncated = path.join(dir, "truncated.pt");
    fs.writeFileSync(truncated, fs.readFileSync(path.join(FIXTURES, "bert-tiny", "traced_pooler.pt")).subarray(0, 2000));
    await expect(et.Module.loadTorchScript(truncated)).rejects.toThrow(
      expect.objectContaining({ name: "CheckpointError", code: "ERR_CHECKPOINT", message: expect.stringMatching(new RegExp(`loadTorchScript\\("${truncated.replace(/[/.]/g, "\\$&")}"\\): not a loadable TorchScript file`)) }),
    );
    await expect(et.Module.loadTorchScript(path.join(FIXTURES, "bert-tiny", "config.json"))).rejects.toThrow(et.CheckpointError);
  });

  test("checkpoint and repository paths through a file or too long are the package's errors naming the path and errno", async () => {
    const dir = temp();
    const file = path.join(dir, "file");
    fs.writeFileSync(file, "x");
    using module = et.Module.create("mlp", { in_features: 2, hidden_features: 2, out_features: 2 });
    const state = { version: 1, globalStep: 1, epoch: 0, batchInEpoch: 0, seed: 0, baseLearningRates: [], earlyStopping: null, stopped: false, config: { batchSize: 1, accumulateGradBatches: 1, trainSize: 1 } } as const;
    await expect(writeCheckpoint(path.join(file, "ckpt"), { modules: new Map([["query", module]]), optimizers: [], state })).rejects.toThrow(
      expect.objectContaining({ name: "CheckpointError", code: "ERR_CHECKPOINT", message: expect.stringMatching(new RegExp(`writeCheckpoint\\(${path.join(file, "ckpt")}\\): mkdir .*ENOTDIR`)) }),
    );
    await expect(readCheckpoint(path.join(dir, "x".repeat(300)))).rejects.toThrow(expect.objectContaining({ name: "CheckpointError", message: expect.stringContaining("x".repeat(300)) }));
    const info = new et.ModelStorageInfo({ repository: path.join(file, "repo"), modelName: "m", version: 1 });
    using x = et.Tensor.from(new Float32Array(4), [2, 2]);
    await expect(new et.JitTraceTritonModelStorageManager(info).saveModel(module, { input: x }, false)).rejects.toThrow(
      expect.objectContaining({ name: "RepositoryError", code: "ERR_REPOSITORY", message: expect.stringMatching(/(?:mkdir|scandir) .*file\/repo: ENOTDIR \(a component of the path is a file, not a folder\)/) }),
    );
  });

  test("a BERT checkpoint without pooler weights is a CheckpointError for TextToTextBertModel (pooler_output) naming the folder and the way out; E5 (mean pooling) loads it", async () => {
    const dir = copyFixture("bert-tiny", ["model.safetensors"]);
    try {
      const source = await et.readSafetensors(path.join(FIXTURES, "bert-tiny", "model.safetensors"));
      const kept = new Map<string, et.Tensor>();
      for (const [name, entry] of source.tensors) if (!name.startsWith("pooler.")) kept.set(name, et.Tensor.from(entry.bytes.slice(), entry.shape, { dtype: entry.dtype }));
      expect(kept.size).toBe(source.tensors.size - 2);
      await et.writeSafetensors(path.join(dir, "model.safetensors"), kept);
      for (const t of kept.values()) t.dispose();
      await expect(et.TextToTextBertModel.fromPretrained(dir)).rejects.toThrow(
        expect.objectContaining({ name: "CheckpointError", code: "ERR_CHECKPOINT", message: expect.stringContaining(`${dir} has no pooler weights (pooler.dense.weight, pooler.dense.bias)`) }),
      );
      const e5 = await et.TextToTextE5Model.fromPretrained(dir);
      e5.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
