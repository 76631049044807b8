/**
 * fromPretrained("org/name") from a Hugging Face cache laid out as Python's
 * huggingface_hub writes it, offline (HF_HUB_OFFLINE=1): every model class,
 * revisions, HF_HOME / HF_HUB_CACHE, and the error for an id the cache lacks.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { HubError, TextToImageClipModel, TextToTextBertModel, TextToTextE5Model, TorchScriptEmbeddingsModel } from "../../lib";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { folderFiles, writePythonCache } from "../helpers/python-hf-cache";

// fixtures/README.md: a correct float32 implementation stays below 1e-5 on CPU.
const TOL = 1e-5;
const COMMIT_A = "a".repeat(40);
const COMMIT_B = "b".repeat(40);
const ENV_KEYS = ["HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"] as const;

let root: string;
const saved: Partial<Record<string, string>> = {};
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hub-cache-"));
  for (const key of ENV_KEYS) {
    saved[key] = process.env[key];
    delete process.env[key];
  }
  process.env.HF_TOKEN_PATH = path.join(root, "no-token");
  process.env.HF_HUB_OFFLINE = "1";
});
afterEach(() => {
  for (const key of ENV_KEYS) {
    const value = saved[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

const BERT_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];

/** bert-tiny's weights with pooler.dense.bias[0] moved by 0.5 (a parse of the safetensors header written here). */
function perturbedBertWeights(): Buffer {
  const bytes = Buffer.from(fs.readFileSync(path.join(FIXTURES, "bert-tiny", "model.safetensors")));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { data_offsets: [number, number] }>;
  const offset = 8 + headerLength + (header["pooler.dense.bias"]?.data_offsets[0] ?? NaN);
  bytes.writeFloatLE(bytes.readFloatLE(offset) + 0.5, offset);
  return bytes;
}

async function bertPoolerDiff(id: string, options: { revision?: string } = {}): Promise<number> {
  using model = await TextToTextBertModel.fromPretrained(id, { ...options, maxLength: 32 });
  using got = await model.forwardItems(readReferenceJson("bert-tiny").texts);
  return maxAbsDiff(got.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data);
}

describe("a Hugging Face cache written by Python, offline", () => {
  test("TextToTextBertModel.fromPretrained(\"org/bert-tiny\") reads $HF_HOME/hub (symlinked blobs, refs/main) and equals HF pooler_output within 1e-5", async () => {
    process.env.HF_HOME = path.join(root, "hf-home");
    writePythonCache(path.join(root, "hf-home", "hub"), "org/bert-tiny", COMMIT_A, folderFiles(path.join(FIXTURES, "bert-tiny"), BERT_FILES));
    expect(await bertPoolerDiff("org/bert-tiny")).toBeLessThan(TOL);
  });

  test("revision selects the snapshot: main (perturbed pooler bias) differs by > 0.1, tag v1 and v1's commit hash match HF within 1e-5", async () => {
    process.env.HF_HUB_CACHE = path.join(root, "hub");
    const files = folderFiles(path.join(FIXTURES, "bert-tiny"), BERT_FILES);
    writePythonCache(path.join(root, "hub"), "org/bert-tiny", COMMIT_A, files, ["v1"]);
    writePythonCache(path.join(root, "hub"), "org/bert-tiny", COMMIT_B, { ...files, "model.safetensors": perturbedBertWeights() }, ["main"]);
    expect(await bertPoolerDiff("org/bert-tiny")).toBeGreaterThan(0.1);
    expect(await bertPoolerDiff("org/bert-tiny", { revision: "v1" })).toBeLessThan(TOL);
    expect(await bertPoolerDiff("org/bert-tiny", { revision: COMMIT_A })).toBeLessThan(TOL);
  });

  test("TextToTextE5Model, TextToImageClipModel and TorchScriptEmbeddingsModel load ids from the cache and match their references within 1e-5", async () => {
    const cache = path.join(root, "hub");
    process.env.HF_HUB_CACHE = cache;
    writePythonCache(cache, "intfloat/xlmr-tiny", COMMIT_A, folderFiles(path.join(FIXTURES, "xlmr-tiny"), BERT_FILES));
    writePythonCache(cache, "openai/clip-tiny", COMMIT_A, folderFiles(path.join(FIXTURES, "clip-tiny"), [...BERT_FILES, "preprocessor_config.json"]));
    writePythonCache(cache, "org/bert-traced", COMMIT_A, {
      ...folderFiles(path.join(FIXTURES, "bert-tiny"), ["tokenizer.json", "tokenizer_config.json"]),
      "model.pt": fs.readFileSync(path.join(FIXTURES, "bert-tiny", "traced_pooler_eager.pt")),
    });
    const texts = readReferenceJson("xlmr-tiny").texts;
    {
      using e5 = await TextToTextE5Model.fromPretrained("intfloat/xlmr-tiny", { maxLength: 32, itemPrefix: "" });
      using got = await e5.forwardItems(texts);
      expect(maxAbsDiff(got.toFloat32Array(), readReferenceTensor("xlmr-tiny", "plain.dynamic.cpu.mean_pool_l2").data)).toBeLessThan(TOL);
    }
    {
      using clip = await TextToImageClipModel.fromPretrained("openai/clip-tiny");
      const clipTexts = readReferenceJson("clip-tiny").texts;
      using got = await clip.forwardQuery(clipTexts[0] ?? "");
      expect(maxAbsDiff(got.toFloat32Array(), readReference("clip-tiny").tensor("text_embeds").subarray(0, 32))).toBeLessThan(TOL);
    }
    {
      using traced = await TorchScriptEmbeddingsModel.fromPretrained("org/bert-traced", { maxLength: 32 });
      using got = await traced.forwardItems(readReferenceJson("bert-tiny").texts);
      expect(maxAbsDiff(got.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data)).toBeLessThan(TOL);
    }
  });

  test("an id the cache lacks is a HubError ERR_HUB_OFFLINE naming the id, the cache folder and HF_HUB_OFFLINE", async () => {
    const cache = path.join(root, "hub");
    process.env.HF_HUB_CACHE = cache;
    const error = await TextToTextE5Model.fromPretrained("intfloat/multilingual-e5-small").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({ code: "ERR_HUB_OFFLINE" });
    const message = (error as Error).message;
    expect(message).toContain("TextToTextE5Model.fromPretrained(\"intfloat/multilingual-e5-small\")");
    expect(message).toContain(cache);
    expect(message).toContain("models--intfloat--multilingual-e5-small");
    expect(message).toContain("HF_HUB_OFFLINE");
  });

  test("offline, a revision the cache never resolved and a file missing from the snapshot are HubErrors naming them", async () => {
    const cache = path.join(root, "hub");
    process.env.HF_HUB_CACHE = cache;
    writePythonCache(cache, "org/bert-tiny", COMMIT_A, folderFiles(path.join(FIXTURES, "bert-tiny"), ["config.json", "tokenizer.json", "tokenizer_config.json"]));
    await expect(TextToTextBertModel.fromPretrained("org/bert-tiny", { revision: "v2" })).rejects.toMatchObject({ code: "ERR_HUB_OFFLINE", message: expect.stringContaining("revision \"v2\"") });
    await expect(TextToTextBertModel.fromPretrained("org/bert-tiny")).rejects.toMatchObject({ code: "ERR_HUB_OFFLINE", message: expect.stringMatching(/model\.safetensors/) });
  });

  test("a two-tower folder (towers.json, items/) loads from the cache with both towers", async () => {
    const cache = path.join(root, "hub");
    process.env.HF_HUB_CACHE = cache;
    const saved = path.join(root, "saved");
    {
      using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { towers: "separate" });
      await model.savePretrained(saved);
    }
    const files: Record<string, Buffer> = {};
    for (const entry of fs.readdirSync(saved, { recursive: true, encoding: "utf8" })) if (fs.statSync(path.join(saved, entry)).isFile()) files[entry] = fs.readFileSync(path.join(saved, entry));
    writePythonCache(cache, "org/two-towers", COMMIT_A, files);
    using model = await TextToTextBertModel.fromPretrained("org/two-towers", { maxLength: 32 });
    expect(model.towers).toBe("separate");
    using items = await model.forwardItems(readReferenceJson("bert-tiny").texts);
    expect(maxAbsDiff(items.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data)).toBeLessThan(TOL);
  });

  test("an absolute path that does not exist is still a folder error, never a Hub lookup", async () => {
    await expect(TextToTextBertModel.fromPretrained("/nonexistent/org-model")).rejects.toThrow(/\/nonexistent\/org-model: not a folder/);
  });
});
