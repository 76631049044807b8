/**
 * fromPretrained("org/name") online: files downloaded from a local stand-in of
 * the Hub's resolve routes (HF_ENDPOINT=http://127.0.0.1:<port>) into the
 * cache layout Python's huggingface_hub uses; revision pinning, HF_TOKEN,
 * resume after an interrupted download, progress, and the cache when the Hub
 * cannot be reached.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { HubError, SentenceTransformerModel, TextToTextBertModel, type DownloadProgress } from "../../lib";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { gitBlobSha1, sha256, startHubServer, type HubServer } from "../helpers/hub-server";
import { folderFiles } from "../helpers/python-hf-cache";
import { writeSentenceTransformersFolder } from "../helpers/sentence-transformers-folder";

// fixtures/README.md: a correct float32 implementation stays below 1e-5 on CPU.
const TOL = 1e-5;
const COMMIT_A = "1".repeat(40);
const COMMIT_B = "2".repeat(40);
const ENV_KEYS = ["HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"] as const;
const BERT = folderFiles(path.join(FIXTURES, "bert-tiny"), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);

let root: string;
let cache: string;
let server: HubServer | undefined;
const saved: Partial<Record<string, string>> = {};
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "hub-download-"));
  cache = path.join(root, "hub");
  for (const key of ENV_KEYS) {
    saved[key] = process.env[key];
    delete process.env[key];
  }
  process.env.HF_TOKEN_PATH = path.join(root, "no-token");
  process.env.HF_HUB_CACHE = cache;
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const key of ENV_KEYS) {
    const value = saved[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

async function serve(repos: Parameters<typeof startHubServer>[0]): Promise<HubServer> {
  server = await startHubServer(repos);
  process.env.HF_ENDPOINT = server.endpoint;
  return server;
}

async function poolerDiff(id: string, options: Parameters<typeof TextToTextBertModel.fromPretrained>[1] = {}): Promise<number> {
  using model = await TextToTextBertModel.fromPretrained(id, { ...options, maxLength: 32 });
  using got = await model.forwardItems(readReferenceJson("bert-tiny").texts);
  return maxAbsDiff(got.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data);
}

const repoDir = () => path.join(cache, "models--org--bert-tiny");

describe("downloading into the Hugging Face cache", () => {
  test("an empty cache is filled as huggingface_hub fills it (refs/main, blobs by etag, relative snapshot symlinks) and the model equals HF within 1e-5; a second load offline makes no request", async () => {
    const hub = await serve({ "org/bert-tiny": { commits: { [COMMIT_A]: BERT }, refs: { main: COMMIT_A } } });
    expect(await poolerDiff("org/bert-tiny")).toBeLessThan(TOL);
    expect(fs.readFileSync(path.join(repoDir(), "refs", "main"), "utf8")).toBe(COMMIT_A);
    for (const [file, content] of Object.entries(BERT)) {
      const link = path.join(repoDir(), "snapshots", COMMIT_A, file);
      const etag = file.endsWith(".safetensors") ? sha256(content) : gitBlobSha1(content);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(link)).toBe(`../../blobs/${etag}`);
      expect(fs.readFileSync(link).equals(content)).toBe(true);
    }
    expect(fs.readdirSync(path.join(repoDir(), "blobs")).filter((f) => f.endsWith(".incomplete"))).toEqual([]);
    // special_tokens_map.json is optional: its 404 is recorded as huggingface_hub records it.
    expect(fs.existsSync(path.join(repoDir(), ".no_exist", COMMIT_A, "special_tokens_map.json"))).toBe(true);
    const before = hub.requests.length;
    process.env.HF_HUB_OFFLINE = "1";
    expect(await poolerDiff("org/bert-tiny")).toBeLessThan(TOL);
    expect(hub.requests.length).toBe(before);
  });

  test("revision \"v1\" is resolved once and every file is fetched at that commit (pinned), refs/v1 records it", async () => {
    const perturbed = { ...BERT, "config.json": Buffer.from(BERT["config.json"]?.toString("utf8").replace('"hidden_act": "gelu"', '"hidden_act": "relu"') ?? "") };
    const hub = await serve({ "org/bert-tiny": { commits: { [COMMIT_A]: BERT, [COMMIT_B]: perturbed }, refs: { main: COMMIT_B, v1: COMMIT_A } } });
    expect(await poolerDiff("org/bert-tiny", { revision: "v1" })).toBeLessThan(TOL);
    const resolves = hub.requests.filter((r) => r.url.includes("/resolve/")).map((r) => r.url);
    expect(resolves[0]).toBe("/org/bert-tiny/resolve/v1/config.json");
    expect(resolves.slice(1).every((url) => url.startsWith(`/org/bert-tiny/resolve/${COMMIT_A}/`))).toBe(true);
    expect(fs.readFileSync(path.join(repoDir(), "refs", "v1"), "utf8")).toBe(COMMIT_A);
    expect(fs.existsSync(path.join(repoDir(), "refs", "main"))).toBe(false);
  });

  test("a private repository: without HF_TOKEN a HubError naming HF_TOKEN; with it every request carries the bearer token", async () => {
    const hub = await serve({ "org/bert-tiny": { commits: { [COMMIT_A]: BERT }, refs: { main: COMMIT_A }, token: "hf_secret" } });
    const error = await TextToTextBertModel.fromPretrained("org/bert-tiny").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({ code: "ERR_HUB", message: expect.stringMatching(/org\/bert-tiny.*HTTP 401.*HF_TOKEN/) });
    process.env.HF_TOKEN = "hf_secret";
    hub.requests.length = 0;
    expect(await poolerDiff("org/bert-tiny")).toBeLessThan(TOL);
    expect(hub.requests.every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
  });

  test("an interrupted download keeps blobs/<sha256>.incomplete and the next call resumes it with a Range request; progress ends at the file's size", async () => {
    const hub = await serve({ "org/bert-tiny": { commits: { [COMMIT_A]: BERT }, refs: { main: COMMIT_A } } });
    const weights = BERT["model.safetensors"] as Buffer;
    const incomplete = path.join(repoDir(), "blobs", `${sha256(weights)}.incomplete`);
    hub.dropNextDownloadAfter(300_000);
    const error = await TextToTextBertModel.fromPretrained("org/bert-tiny").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ERR_HUB", message: expect.stringMatching(/model\.safetensors: download interrupted after \d+ of 817248 bytes.*resumes/) });
    const kept = fs.statSync(incomplete).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(weights.length);
    const progress: DownloadProgress[] = [];
    expect(await poolerDiff("org/bert-tiny", { onProgress: (p) => progress.push(p) })).toBeLessThan(TOL);
    expect(hub.requests.filter((r) => r.url.startsWith("/cdn/")).map((r) => r.range)).toEqual([undefined, `bytes=${kept}-`]);
    expect(fs.existsSync(incomplete)).toBe(false);
    const weightProgress = progress.filter((p) => p.file === "model.safetensors").map((p) => p.bytes);
    expect(weightProgress[0]).toBe(kept);
    expect(weightProgress.at(-1)).toBe(weights.length);
    expect(weightProgress.every((b, i) => i === 0 || b >= (weightProgress[i - 1] as number))).toBe(true);
  });

  test("a Hub that cannot be reached falls back to the cached revision, and without one is a HubError naming the endpoint", async () => {
    await serve({ "org/bert-tiny": { commits: { [COMMIT_A]: BERT }, refs: { main: COMMIT_A } } });
    expect(await poolerDiff("org/bert-tiny")).toBeLessThan(TOL);
    await server?.close();
    server = undefined;
    expect(await poolerDiff("org/bert-tiny")).toBeLessThan(TOL);
    const endpoint = process.env.HF_ENDPOINT as string;
    await expect(TextToTextBertModel.fromPretrained("org/other")).rejects.toMatchObject({ code: "ERR_HUB_OFFLINE", message: expect.stringContaining(`${endpoint} could not be reached`) });
  });

  test("an unknown id and an unknown revision are HubErrors naming them", async () => {
    await serve({ "org/bert-tiny": { commits: { [COMMIT_A]: BERT }, refs: { main: COMMIT_A } } });
    await expect(TextToTextBertModel.fromPretrained("org/nothing")).rejects.toMatchObject({ code: "ERR_HUB", message: expect.stringContaining("org/nothing@main: repository not found") });
    await expect(TextToTextBertModel.fromPretrained("org/bert-tiny", { revision: "v9" })).rejects.toMatchObject({ code: "ERR_HUB", message: expect.stringContaining('revision "v9" does not exist') });
  });

  test("a sentence-transformers repository: modules.json and each module's files (1_Pooling/config.json) are fetched; queries equal transformers' mean_pool_l2 within 1e-5", async () => {
    const local = await writeSentenceTransformersFolder(path.join(root, "st"), { fixture: "bert-tiny", stages: [{ kind: "pooling", config: { pooling_mode: "mean" } }, { kind: "normalize" }] });
    const files: Record<string, Buffer> = {};
    for (const entry of fs.readdirSync(local, { recursive: true, encoding: "utf8" })) {
      if (fs.statSync(path.join(local, entry)).isFile()) files[entry] = fs.readFileSync(path.join(local, entry));
    }
    const hub = await serve({ "sentence-transformers/bert-tiny": { commits: { [COMMIT_A]: files }, refs: { main: COMMIT_A } } });
    using model = await SentenceTransformerModel.fromPretrained("sentence-transformers/bert-tiny");
    using got = await model.encodeQueries(readReferenceJson("bert-tiny").texts, { grad: false });
    expect(maxAbsDiff(got.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.mean_pool_l2").data)).toBeLessThan(TOL);
    expect(hub.requests.some((r) => r.url === `/sentence-transformers/bert-tiny/resolve/${COMMIT_A}/1_Pooling/config.json`)).toBe(true);
    expect(fs.existsSync(path.join(cache, "models--sentence-transformers--bert-tiny", "snapshots", COMMIT_A, "1_Pooling", "config.json"))).toBe(true);
  });
});
