/**
 * towers: "separate": the items encoder is an independent copy of the
 * checkpoint (its own parameters, freezing, optimizer, savePretrained folder
 * and Triton model); "shared" (the default) keeps one encoder.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { exportToTriton, Optimizer, RankingTask, TextToTextBertModel, TextToTextE5Model, backward } from "../../lib";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";

// fixtures/README.md: a correct float32 implementation stays below 1e-5 on CPU.
const TOL = 1e-5;
const BERT = path.join(FIXTURES, "bert-tiny");
const texts = readReferenceJson("bert-tiny").texts;
const pooler = () => readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data;

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "towers-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("towers", () => {
  test("the default is one shared encoder; \"separate\" gives two modules, each equal to HF pooler_output within 1e-5", async () => {
    using shared = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32 });
    expect([shared.towers, shared.sameQueryAndItems, shared.getQueryModel() === shared.getItemsModel()]).toEqual(["shared", true, true]);
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, towers: "separate" });
    expect([model.towers, model.sameQueryAndItems, model.getQueryModel() === model.getItemsModel()]).toEqual(["separate", false, false]);
    using queries = await model.encodeQueries(texts, { grad: false });
    using items = await model.forwardItems(texts);
    expect(maxAbsDiff(queries.toFloat32Array(), pooler())).toBeLessThan(TOL);
    expect(maxAbsDiff(items.toFloat32Array(), pooler())).toBeLessThan(TOL);
  });

  test("fix/unfix on one side never touches the other", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { towers: "separate" });
    model.fixQueryModel(2);
    expect([...model.getItemsModelParams()].every((p) => p.requiresGrad)).toBe(true);
    model.fixItemModel(1);
    model.unfixItemModel();
    expect([...model.getQueryModelParams()].filter((p) => !p.requiresGrad).length).toBeGreaterThan(0);
    expect([...model.getItemsModelParams()].every((p) => p.requiresGrad)).toBe(true);
  });

  test("two optimizer groups; stepping the items optimizer changes item embeddings and leaves the query tower bit-identical (still HF within 1e-5); savePretrained writes towers.json + items/ and reloads both towers", async () => {
    using model = await TextToTextBertModel.fromPretrained(BERT, { maxLength: 32, towers: "separate" });
    const task = new RankingTask(model, { optimizer: { kind: "adamw", lr: 1e-2 } });
    const configs = task.configureOptimizers();
    expect(configs.map((c) => c.module)).toEqual([model.getQueryModel(), model.getItemsModel()]);
    expect([...task.modules().keys()]).toEqual(["query", "items"]);
    using before = await model.encodeQueries(texts, { grad: false });
    const pair = (i: number) => ({ sessionId: `s${i}`, query: texts[i] ?? "", positiveId: "p", negativeId: "n", positive: texts[(i + 1) % 8] ?? "", negative: texts[(i + 2) % 8] ?? "" });
    using loss = await task.trainingStep([pair(0), pair(1), pair(7)]);
    await backward(loss);
    using itemsOptimizer = Optimizer.fromConfig(configs[1] as (typeof configs)[number]);
    await itemsOptimizer.step();
    using after = await model.encodeQueries(texts, { grad: false });
    using items = await model.forwardItems(texts);
    expect(maxAbsDiff(after.toFloat32Array(), before.toFloat32Array())).toBe(0);
    expect(maxAbsDiff(after.toFloat32Array(), pooler())).toBeLessThan(TOL);
    expect(maxAbsDiff(items.toFloat32Array(), pooler())).toBeGreaterThan(1e-3);

    const saved = path.join(root, "two-towers");
    await model.savePretrained(saved);
    expect(JSON.parse(fs.readFileSync(path.join(saved, "towers.json"), "utf8"))).toEqual({ query: "", items: "items" });
    for (const file of ["config.json", "model.safetensors", "tokenizer.json", "items/config.json", "items/model.safetensors", "items/tokenizer.json"]) expect(fs.existsSync(path.join(saved, file))).toBe(true);
    using reloaded = await TextToTextBertModel.fromPretrained(saved, { maxLength: 32 });
    expect(reloaded.towers).toBe("separate");
    using reloadedQueries = await reloaded.encodeQueries(texts, { grad: false });
    using reloadedItems = await reloaded.forwardItems(texts);
    expect(maxAbsDiff(reloadedQueries.toFloat32Array(), pooler())).toBeLessThan(TOL);
    expect(maxAbsDiff(reloadedItems.toFloat32Array(), items.toFloat32Array())).toBeLessThan(1e-6);
    await expect(TextToTextBertModel.fromPretrained(saved, { towers: "shared" })).rejects.toThrow(/holds separate query and items towers \(towers\.json\); towers "shared" cannot merge them/);
  });

  test("Triton export of separate towers writes <name>_query and <name>_items", async () => {
    using model = await TextToTextE5Model.fromPretrained(path.join(FIXTURES, "xlmr-tiny"), { towers: "separate" });
    const repository = path.join(root, "triton");
    const result = await exportToTriton(model, { repository, name: "search" });
    expect(result.shared).toBe(false);
    expect([result.query.modelName, result.items.modelName]).toEqual(["search_query", "search_items"]);
    for (const name of ["search_query", "search_items"]) {
      expect(fs.existsSync(path.join(repository, name, "config.pbtxt"))).toBe(true);
      expect(fs.existsSync(path.join(repository, name, "1", "model.pt"))).toBe(true);
    }
  });

  test("a bad towers value is a RangeError naming it", async () => {
    await expect(TextToTextBertModel.fromPretrained(BERT, { towers: "two" as "separate" })).rejects.toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringContaining('towers must be "shared" or "separate" but received string "two"') }));
  });
});
