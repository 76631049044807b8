/**
 * The README's TypeScript examples, run as written except for the
 * substitutions listed below (placeholders become fixtures, Hub ids are
 * served by a stand-in Hub on 127.0.0.1, relative output paths go to a
 * temporary folder): an example that stops working fails here.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as ts from "typescript";

import * as lib from "../../lib";
import { FIXTURES } from "../helpers/fixtures";
import { startHubServer, type HubServer } from "../helpers/hub-server";
import { folderFiles } from "../helpers/python-hf-cache";
import { writeSentenceTransformersFolder } from "../helpers/sentence-transformers-folder";

const README = path.resolve(__dirname, "..", "..", "README.md");
const DATA = path.resolve(__dirname, "..", "..", "data");
const COMMIT = "e".repeat(40);
const ENV_KEYS = ["HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_TOKEN_PATH"] as const;

/** The README's ```ts blocks, in order. */
function readmeBlocks(): string[] {
  return [...fs.readFileSync(README, "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
}

let root: string;
let hub: HubServer;
const saved: Partial<Record<string, string>> = {};

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "readme-"));
  const st = await writeSentenceTransformersFolder(path.join(root, "st-src"), { fixture: "bert-tiny", stages: [{ kind: "pooling", config: { pooling_mode: "mean" } }, { kind: "normalize" }] });
  const stFiles: Record<string, Buffer> = {};
  for (const entry of fs.readdirSync(st, { recursive: true, encoding: "utf8" })) if (fs.statSync(path.join(st, entry)).isFile()) stFiles[entry] = fs.readFileSync(path.join(st, entry));
  hub = await startHubServer({
    "intfloat/multilingual-e5-small": { commits: { [COMMIT]: folderFiles(path.join(FIXTURES, "xlmr-tiny"), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) }, refs: { main: COMMIT } },
    "sentence-transformers/all-MiniLM-L6-v2": { commits: { [COMMIT]: stFiles }, refs: { main: COMMIT } },
  });
  for (const key of ENV_KEYS) saved[key] = process.env[key];
  for (const key of ENV_KEYS) delete process.env[key];
  process.env.HF_HUB_CACHE = path.join(root, "hub");
  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_TOKEN_PATH = path.join(root, "no-token");
});

afterAll(async () => {
  await hub.close();
  for (const key of ENV_KEYS) {
    const value = saved[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

/** Placeholders of the README and what they become here (the fixtures have 32 positions). */
function substitutions(): [string, string][] {
  return [
    ['"path/to/hf-folder"', JSON.stringify(path.join(FIXTURES, "bert-tiny"))],  // 3 layers: fixQueryModel(2) leaves one
    ["maxLength: 256", "maxLength: 32"],
    ['"my-model"', JSON.stringify(path.join(root, "my-model"))],
    ['"./models"', JSON.stringify(path.join(root, "models"))],
    ['"checkpoints"', JSON.stringify(path.join(root, "checkpoints"))],
    ['"logs"', JSON.stringify(path.join(root, "logs"))],
  ];
}

/** Runs blocks as one async function body with `embeddings-torch` bound to lib and `prelude` first. */
async function runBlocks(blocks: readonly string[], prelude = ""): Promise<void> {
  let body = blocks.join("\n");
  for (const [from, to] of substitutions()) body = body.split(from).join(to);
  body = body.replace(/^import \{([^}]*)\} from "embeddings-torch";$/gm, "const {$1} = lib;");
  const source = `async function example(lib, context) {\n${prelude}\n${body}\n}`;
  const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS } }).outputText;
  const example = new Function(`${js}\nreturn example;`)() as (l: typeof lib, context: Record<string, unknown>) => Promise<void>;
  await example(lib, { pairs: trainingPairs() });
}

function trainingPairs(): { train: lib.TrainingPair[]; validation: lib.TrainingPair[] } {
  const catalogue = lib.parseCatalogue(fs.readFileSync(path.join(DATA, "catalogue.jsonl"), "utf8"), "catalogue.jsonl");
  const sessions = lib.parseClickstream(fs.readFileSync(path.join(DATA, "clickstream.jsonl"), "utf8").split("\n").slice(0, 40).join("\n"), "clickstream.jsonl");
  const { pairs } = lib.makePairs(sessions, catalogue, { maxNegativesPerClick: 1 });
  return { train: pairs.slice(0, 40), validation: pairs.slice(40, 48) };
}

describe("README examples", () => {
  const blocks = readmeBlocks();
  const find = (needle: string) => {
    const block = blocks.find((b) => b.includes(needle));
    if (block === undefined) throw new Error(`README.md has no ts block with ${needle}`);
    return block;
  };

  test("there are examples to run", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  test("Use, then Export to Triton and Fine-tuning on the same model", async () => {
    const prelude = "const { train: pairs, validation } = context.pairs;";
    await runBlocks([find("TextToTextE5Model.fromPretrained(\"path/to/hf-folder\""), find("exportToTriton(model"), find("new Trainer(")], prelude);
    expect(fs.existsSync(path.join(root, "models", "search", "config.pbtxt"))).toBe(true);
    expect(fs.readdirSync(path.join(root, "checkpoints")).length).toBeGreaterThan(0);
  });

  test("Models by Hub id: the id downloads from HF_ENDPOINT into the cache", async () => {
    await runBlocks([`const { TextToTextE5Model } = lib;\n${find("intfloat/multilingual-e5-small")}\ne5.dispose();`]);
    expect(fs.existsSync(path.join(root, "hub", "models--intfloat--multilingual-e5-small", "refs", "main"))).toBe(true);
  });

  test("Micro-batching: three concurrent queries take 2 forwards; the setters accept what the README shows", async () => {
    const block = find("setMicroBatching(false)");
    await runBlocks([`${block}\nfor (const r of rows) r.dispose();\nif (model.microBatchStats.forwards !== 2 || model.microBatchStats.largestBatch !== 2) throw new Error(JSON.stringify(model.microBatchStats));\nmodel.dispose();`]);
  });

  test("sentence-transformers folders: load by id, embed a query, save the layout", async () => {
    await runBlocks([`${find("SentenceTransformerModel.fromPretrained(")}\nst.dispose();`]);
    expect(fs.existsSync(path.join(root, "my-model", "modules.json"))).toBe(true);
  });
});
