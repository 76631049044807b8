/**
 * `embeddings-torch finetune | embed | evaluate`, run through the CLI's
 * main(): a user's own model (a fixture folder), texts and clickstream (the
 * first sessions of the shipped sample, data/).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { runCli } from "../helpers/cli";

import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";

const DATA = path.resolve(__dirname, "..", "..", "data");
let dir: string;
let clickstream: string;
let catalogue: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-cli-commands-"));
  clickstream = path.join(dir, "clickstream.jsonl");
  fs.writeFileSync(clickstream, fs.readFileSync(path.join(DATA, "clickstream.jsonl"), "utf8").split("\n").slice(0, 60).join("\n") + "\n");
  catalogue = path.join(DATA, "catalogue.jsonl");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = runCli;

/** A float32 .npy file, parsed here from NumPy's format description (magic, version, header dict, data). */
function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 6).toString("latin1")).toBe("\x93NUMPY");
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString("latin1");
  expect((10 + headerLength) % 64).toBe(0);
  expect(header).toMatch(/'descr': '<f4', 'fortran_order': False/);
  const shape = (/'shape': \((\d+), (\d+)\)/.exec(header) ?? []).slice(1).map(Number);
  const raw = bytes.subarray(10 + headerLength);
  return { shape, data: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
}

describe("embeddings-torch embed", () => {
  test("--kind bert to .npy equals HF pooler_output within 1e-5 (batches of 3); progress on stderr", async () => {
    const input = path.join(dir, "texts.jsonl");
    fs.writeFileSync(input, readReferenceJson("bert-tiny").texts.map((t, i) => JSON.stringify({ id: `t${i}`, text: t })).join("\n") + "\n");
    const output = path.join(dir, "out", "bert.npy");
    const result = await run("embed", "--model", path.join(FIXTURES, "bert-tiny"), "--kind", "bert", "--input", input, "--output", output, "--batch-size", "3");
    expect(result).toMatchObject({ code: 0 });
    expect(result.out).toMatch(/embedded 8 texts as items with bert \(dim 64\)/);
    expect(result.err.split("\n").at(-1)).toMatch(/^8\/8 texts/);
    const npy = readNpy(output);
    expect(npy.shape).toEqual([8, 64]);
    expect(maxAbsDiff(npy.data, readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data)).toBeLessThan(1e-5);
  });

  test("an XLM-R folder is detected as e5; --as query to .jsonl equals HF's \"query: \" mean_pool_l2 within 1e-5, ids by line", async () => {
    const input = path.join(dir, "texts.txt");
    const texts = readReferenceJson("xlmr-tiny").texts.filter((t) => !t.includes("\n"));
    fs.writeFileSync(input, texts.join("\n") + "\n");
    const output = path.join(dir, "xlmr.jsonl");
    const result = await run("embed", "--model", path.join(FIXTURES, "xlmr-tiny"), "--input", input, "--output", output, "--as", "query");
    expect(result).toMatchObject({ code: 0, out: expect.stringMatching(/as query with e5 \(dim 64\)/) });
    const rows = fs.readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; embedding: number[] });
    const all = readReferenceJson("xlmr-tiny").texts;
    const ref = readReferenceTensor("xlmr-tiny", "query.dynamic.cpu.mean_pool_l2").data;
    rows.forEach((row, i) => {
      expect(row.id).toBe(String(i));
      const j = all.indexOf(texts[i] as string);
      expect(maxAbsDiff(row.embedding, ref.subarray(j * 64, (j + 1) * 64))).toBeLessThan(1e-5);
    });
  });

  test("usage mistakes exit 2 naming the flag", async () => {
    expect(await run("embed", "--model", "x")).toMatchObject({ code: 2, err: expect.stringContaining("missing --input, --output") });
    expect(await run("embed", "--model", "x", "--input", "a.txt", "--output", "e.csv")).toMatchObject({ code: 2, err: expect.stringContaining("--output must end in .jsonl or .npy") });
    expect(await run("embed", "--help")).toMatchObject({ code: 0, out: expect.stringMatching(/^usage: embeddings-torch embed/) });
  });
});

describe("embeddings-torch finetune and evaluate", () => {
  test("finetune (separate towers, 3 steps) prints the before/after table, saves the model, exports <name>_query/_items; evaluate loads the saved folder", async () => {
    const out = path.join(dir, "run");
    const repository = path.join(dir, "triton");
    const result = await run("finetune", "--model", path.join(FIXTURES, "bert-tiny"), "--kind", "e5", "--data", clickstream, "--catalogue", catalogue, "--out", out,
      "--towers", "separate", "--max-steps", "3", "--batch-size", "8", "--lr", "1e-3", "--export-triton", repository, "--name", "shop");
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/data: 1152 items; \d+ training sessions -> \d+ pairs; \d+ held-out sessions/);
    expect(result.out).toMatch(/trained 3 steps/);
    expect(result.out).toMatch(/metric\s+before\s+after\s+change\n.*recall@10/s);
    for (const file of ["model/config.json", "model/model.safetensors", "model/towers.json", "model/items/model.safetensors", "logs/metrics.jsonl"]) expect(fs.existsSync(path.join(out, file))).toBe(true);
    for (const name of ["shop_query", "shop_items"]) expect(fs.existsSync(path.join(repository, name, "config.pbtxt"))).toBe(true);

    const evaluated = await run("evaluate", "--model", path.join(out, "model"), "--kind", "e5", "--data", clickstream, "--catalogue", catalogue);
    expect(evaluated.code).toBe(0);
    expect(evaluated.out).toMatch(/e5 model .*: 1152 items, 60 sessions/);
    const mrr = /^mrr\s+([\d.]+)$/m.exec(evaluated.out);
    expect(Number(mrr?.[1])).toBeGreaterThanOrEqual(0);
    expect(Number(mrr?.[1])).toBeLessThanOrEqual(1);
  });

  test("usage mistakes exit 2 naming the flag", async () => {
    expect(await run("finetune", "--model", "x")).toMatchObject({ code: 2, err: expect.stringContaining("missing --data, --out") });
    expect(await run("finetune", "--model", "x", "--data", clickstream, "--out", dir, "--loss", "hinge")).toMatchObject({ code: 2, err: expect.stringContaining("--loss must be one of") });
    expect(await run("evaluate", "--model", "x", "--data", path.join(dir, "missing.jsonl"))).toMatchObject({ code: 2, err: expect.stringContaining("--data") });
    for (const command of ["finetune", "evaluate"]) expect(await run("help", command)).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^usage: embeddings-torch ${command}`)) });
  });
});
