/**
 * The demo end to end on generated data, with a two-tower MLP standing in for
 * the default BERT (the `loadModel` hook): held-out recall@10 and MRR over the
 * whole catalogue improve over the untrained model, a model folder is saved
 * and the Triton hook receives the trained model.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, TextToTextBertModel } from "../../lib";
import { demo, type DemoModel } from "../../lib/training/demo";
import { MlpTwoTower, weights } from "../helpers/mlp-two-tower";

const ROOT = path.resolve(__dirname, "..", "..");

test("fine-tuning on the generated clickstream raises held-out recall@10 and MRR, saves the model and calls the Triton hook", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-demo-"));
  execFileSync(process.execPath, [path.join(ROOT, "scripts/make-clickstream.js"), "--seed", "3", "--sessions", "800", "--out", path.join(dir, "data")]);
  let model: MlpTwoTower | null = null;
  let trained: Record<string, number[]> = {};
  const exported: string[] = [];
  const lines: string[] = [];
  const result = await demo({
    dataDir: path.join(dir, "data"),
    outDir: path.join(dir, "out"),
    modelDir: path.join(dir, "no-model"),
    epochs: 3,
    lr: 3e-3,
    progress: false,
    log: (l) => lines.push(l),
    loadModel: async () => (model = new MlpTwoTower({ features: 128, hidden: 64, seed: 2 })),
    exportToTriton: async (m: DemoModel, repository: string) => {
      exported.push(repository);
      expect(m).toBe(model);
      trained = weights(m.getQueryModel());  // the demo disposes the model when it returns
    },
  });
  expect(result.after["recall@10"]).toBeGreaterThan(result.before["recall@10"]! + 0.05);
  expect(result.after.mrr).toBeGreaterThan(result.before.mrr! + 0.02);
  expect(result.table).toMatch(/^metric\s+before\s+after\s+change\nrecall@1 /);
  expect(lines.join("\n")).toContain(result.table);
  expect(exported).toEqual([path.join(dir, "out", "triton")]);
  // the saved folder holds the trained query tower
  using reloaded = Module.create("mlp", { in_features: 128, hidden_features: 64, out_features: 8 });
  await reloaded.loadStateDict(path.join(result.modelDir, "model.safetensors"));
  expect(weights(reloaded)).toEqual(trained);
  expect(fs.existsSync(path.join(dir, "out", "logs", "metrics.svg"))).toBe(true);
  expect(fs.existsSync(path.join(dir, "out", "logs", "metrics.png"))).toBe(true);

  // A second run into the same folder replaces the first run's outputs instead of colliding with its checkpoints.
  const again: string[] = [];
  const second = await demo({
    dataDir: path.join(dir, "data"), outDir: path.join(dir, "out"), modelDir: path.join(dir, "no-model"), epochs: 1, progress: false,
    log: (l) => again.push(l), loadModel: async () => new MlpTwoTower({ features: 128, hidden: 64, seed: 2 }), exportToTriton: null,
  });
  expect(again.join("\n")).toContain(`replacing the previous demo run in ${path.join(dir, "out")} (checkpoints, logs, model)`);
  expect(second.fit.globalStep).toBeGreaterThan(0);
  expect(fs.readdirSync(path.join(dir, "out", "checkpoints")).filter((e) => e.startsWith("step-"))).toEqual([`step-${String(second.fit.globalStep).padStart(8, "0")}`]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a shortened demo on the shipped default model improves recall@10 and MRR, saves a folder fromPretrained reloads, and exports to Triton", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-demo-default-"));
  try {
    // The catalogue generator is the same as data/'s, so the default tokenizer's vocabulary covers it.
    execFileSync(process.execPath, [path.join(ROOT, "scripts/make-clickstream.js"), "--seed", "5", "--sessions", "1200", "--out", path.join(dir, "data")]);
    const result = await demo({ epochs: 2, modelDir: path.join(ROOT, "models", "default"), dataDir: path.join(dir, "data"), outDir: path.join(dir, "out"), progress: false, log: () => undefined });
    expect(result.after["recall@10"]).toBeGreaterThan(result.before["recall@10"]! + 0.05);
    expect(result.after.mrr).toBeGreaterThan(result.before.mrr!);
    expect(fs.existsSync(path.join(dir, "out", "triton", "default", "config.pbtxt"))).toBe(true);
    expect(fs.existsSync(path.join(dir, "out", "triton", "default", "1", "model.pt"))).toBe(true);
    using reloaded = await TextToTextBertModel.fromPretrained(result.modelDir);
    using q = await reloaded.forwardQuery("red running shoes");
    expect(q.shape).toEqual([1, 128]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
