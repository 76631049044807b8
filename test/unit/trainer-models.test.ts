/**
 * The Trainer fine-tunes CLIP (text queries, image items) and TorchScript
 * two-tower models as it does text models: both towers move, checkpoints are
 * written, and a fresh model resumed from a checkpoint continues the
 * uninterrupted run's loss curve and ends with its weights.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { TextToImageClipModel, TorchScriptEmbeddingsModel, Trainer, type Module, type TrainingPair } from "../../lib";
import { FIXTURES, readReferenceJson } from "../helpers/fixtures";

const CLIP = path.join(FIXTURES, "clip-tiny");
const BERT = path.join(FIXTURES, "bert-tiny");

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "trainer-models-"));
  // Two TorchScript towers: one file copied twice is two modules with their own parameters.
  for (const name of ["query.pt", "items.pt"]) fs.copyFileSync(path.join(BERT, "traced_pooler_eager.pt"), path.join(root, name));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function weights(module: Module): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, tensor] of module.stateDict()) {
    out.set(name, tensor.toFloat32Array());
    tensor.dispose();
  }
  return out;
}

function pairs(texts: readonly string[], items: readonly string[]): TrainingPair[] {
  return texts.map((query, i) => ({ sessionId: `s${i}`, query, positiveId: `p${i}`, negativeId: `n${i}`, positive: items[i % items.length] as string, negative: items[(i + 1) % items.length] as string }));
}

interface Case {
  readonly name: string;
  load(): Promise<TextToImageClipModel | TorchScriptEmbeddingsModel>;
  readonly train: readonly TrainingPair[];
}

const CASES: readonly Case[] = [
  {
    name: "TextToImageClipModel (clip-tiny: text queries, image-path items)",
    load: () => TextToImageClipModel.fromPretrained(CLIP),
    train: pairs(readReferenceJson("clip-tiny").texts, ["image0.png", "image1.png", "image2.png"].map((f) => path.join(CLIP, f))),
  },
  {
    name: "TorchScriptEmbeddingsModel (query.pt, items.pt traced by PyTorch)",
    load: () => TorchScriptEmbeddingsModel.load({ queryModel: path.join(root, "query.pt"), itemsModel: path.join(root, "items.pt"), tokenizer: BERT, maxLength: 32 }),
    train: pairs(readReferenceJson("bert-tiny").texts, readReferenceJson("bert-tiny").texts.slice().reverse()),
  },
];

const options = (dir: string, maxSteps: number) => ({
  progress: false as const,
  seed: 5,
  maxSteps,
  maxEpochs: 10,
  batchSize: 4,
  optimizer: { kind: "adamw" as const, lr: 1e-3 },
  loss: { kind: "info_nce" as const, temperature: 0.05 },
  checkpoint: { dir, everyNSteps: 2 },
});

describe.each(CASES)("Trainer on $name", (c) => {
  test("4 steps move every parameter of both towers; resuming a fresh model from the step-2 checkpoint reproduces steps 3-4 (1e-6) and the final weights (1e-6)", async () => {
    const slug = c.name.split(" ")[0] as string;
    using model = await c.load();
    expect(model.sameQueryAndItems).toBe(false);
    const before = { query: weights(model.getQueryModel()), items: weights(model.getItemsModel()) };
    const full = await new Trainer(options(path.join(root, `${slug}-full`), 4)).fit(model, { train: c.train });
    expect(full.steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    expect(full.steps.every((s) => Number.isFinite(s.loss))).toBe(true);
    const after = { query: weights(model.getQueryModel()), items: weights(model.getItemsModel()) };
    for (const [side, module] of [["query", model.getQueryModel()], ["items", model.getItemsModel()]] as const) {
      for (const { name } of module.namedParameters()) {  // parameters, not buffers such as position_ids
        const value = after[side].get(name) as Float32Array;
        expect([name, value.some((v, i) => v !== before[side].get(name)?.[i])]).toEqual([name, true]);
      }
    }

    const dir = path.join(root, `${slug}-resumed`);
    {
      using first = await c.load();
      await new Trainer(options(dir, 2)).fit(first, { train: c.train });
    }
    using resumed = await c.load();
    const rest = await new Trainer(options(dir, 4)).fit(resumed, { train: c.train }, { resumeFrom: dir });
    expect(rest.steps.map((s) => s.step)).toEqual([3, 4]);
    rest.steps.forEach((s, i) => expect(Math.abs(s.loss - (full.steps[2 + i]?.loss ?? NaN))).toBeLessThan(1e-6));
    for (const [side, module] of [["query", resumed.getQueryModel()], ["items", resumed.getItemsModel()]] as const) {
      for (const [name, value] of weights(module)) {
        // The attention key bias adds the same score to every key, which softmax cancels: its gradient is
        // rounding noise that AdamW scales up to lr-sized steps, so its value is not reproducible.
        if (/(key|k_proj)\.bias$/.test(name)) continue;
        const expected = after[side].get(name) as Float32Array;
        let max = 0;
        for (let i = 0; i < value.length; i++) max = Math.max(max, Math.abs((value[i] as number) - (expected[i] as number)));
        expect([name, max < 1e-6]).toEqual([name, true]);
      }
    }
  });
});
