/**
 * The one freezing rule (lib/models/freeze.ts) on every model: fix*(n) freezes
 * exactly that tower's embeddings and layers 0..n-1 and unfreezes the rest of
 * that tower (so fix(2) then fix(1) leaves layer 1 trainable), unfix*()
 * unfreezes all; a bad n is the same RangeError everywhere.
 */
import * as path from "node:path";

import { TextToImageClipModel, TextToTextBertModel, TorchScriptEmbeddingsModel, type EmbeddingsModelInterface, type ParameterInfo } from "../../lib";
import { FIXTURES } from "../helpers/fixtures";

interface Case {
  readonly name: string;
  load(): Promise<EmbeddingsModelInterface>;
  readonly side: "query" | "items";
  readonly layers: number;
  /** What fix(1) must freeze, written out per architecture (HF parameter names). */
  frozenByFix1(name: string): boolean;
}

const CASES: readonly Case[] = [
  {
    name: "TextToTextBertModel (bert-tiny)",
    load: () => TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny")),
    side: "query",
    layers: 3,
    frozenByFix1: (n) => n.startsWith("embeddings.") || n.startsWith("encoder.layer.0."),
  },
  {
    name: "TextToImageClipModel text tower (clip-tiny)",
    load: () => TextToImageClipModel.fromPretrained(path.join(FIXTURES, "clip-tiny")),
    side: "query",
    layers: 2,
    frozenByFix1: (n) => n.startsWith("text_model.embeddings.") || n.startsWith("text_model.encoder.layers.0."),
  },
  {
    name: "TextToImageClipModel vision tower (clip-tiny)",
    load: () => TextToImageClipModel.fromPretrained(path.join(FIXTURES, "clip-tiny")),
    side: "items",
    layers: 2,
    frozenByFix1: (n) => n.startsWith("vision_model.embeddings.") || n.startsWith("vision_model.encoder.layers.0."),
  },
  {
    name: "TorchScriptEmbeddingsModel (bert-tiny traced by PyTorch)",
    load: () => TorchScriptEmbeddingsModel.load({ queryModel: path.join(FIXTURES, "bert-tiny", "traced_pooler_eager.pt"), tokenizer: path.join(FIXTURES, "bert-tiny") }),
    side: "query",
    layers: 3,
    frozenByFix1: (n) => n.startsWith("m.embeddings.") || n.startsWith("m.encoder.layer.0."),
  },
];

const params = (model: EmbeddingsModelInterface, side: "query" | "items"): ParameterInfo[] =>
  [...(side === "query" ? model.getQueryModelParams() : model.getItemsModelParams())];
const fix = (model: EmbeddingsModelInterface, side: "query" | "items", n: unknown) =>
  side === "query" ? model.fixQueryModel(n as number) : model.fixItemModel(n as number);

describe.each(CASES)("$name", (c) => {
  test("fix(2 or the most allowed) then fix(1) leaves exactly the embeddings and layer 0 frozen; unfix() unfreezes all", async () => {
    using model = await c.load();
    fix(model, c.side, c.layers - 1);
    fix(model, c.side, 1);
    const all = params(model, c.side);
    const frozen = all.filter((p) => !p.requiresGrad).map((p) => p.name).sort();
    expect(frozen).toEqual(all.map((p) => p.name).filter(c.frozenByFix1).sort());
    expect(frozen.length).toBeGreaterThan(0);
    if (c.side === "query") model.unfixQueryModel();
    else model.unfixItemModel();
    expect(params(model, c.side).every((p) => p.requiresGrad)).toBe(true);
  });

  test.each([-1, 1.5, "1", Number.NaN])("fix(%p) is the one RangeError, naming the method, the bound and the layer count", async (bad) => {
    using model = await c.load();
    const method = c.side === "query" ? "fixQueryModel" : "fixItemModel";
    expect(() => fix(model, c.side, bad)).toThrow(expect.objectContaining({
      name: "RangeError",
      message: expect.stringMatching(new RegExp(`^${method}: numFixedLayers must be an integer in \\[0, ${c.layers - 1}\\] \\(the tower has ${c.layers} layers and one must stay trainable\\) but received `)),
    }));
  });

  test("fix(number of layers) is refused: one layer must stay trainable", async () => {
    using model = await c.load();
    expect(() => fix(model, c.side, c.layers)).toThrow(RangeError);
  });
});

test("CLIP: fixing one tower never touches the other", async () => {
  using model = await TextToImageClipModel.fromPretrained(path.join(FIXTURES, "clip-tiny"));
  model.fixItemModel(1);
  expect(model.getQueryModelParams().every((p) => p.requiresGrad)).toBe(true);
  model.fixQueryModel(1);
  model.unfixQueryModel();
  expect(model.getItemsModelParams().filter((p) => !p.requiresGrad).length).toBeGreaterThan(0);
});
