/**
 * sentence-transformers CLIP folders (modules.json naming one CLIP module:
 * the legacy CLIPModel in 0_CLIPModel/, or a Transformer at the root whose
 * config is CLIP) load with TextToImageClipModel, from a folder or a Hub id;
 * SentenceTransformerModel points there.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { SentenceTransformerModel, TextToImageClipModel } from "../../lib";
import { detectKind } from "../../lib/commands/load-model";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson } from "../helpers/fixtures";
import { writePythonCache } from "../helpers/python-hf-cache";

const CLIP = path.join(FIXTURES, "clip-tiny");
const CLIP_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"];
// fixtures/README.md: 1e-5 for embeddings; README "Text to image": images within 1e-2 (the resize differs from the fixture's fast processor).
const TEXT_TOL = 1e-5;
const IMAGE_TOL = 1e-2;

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "st-clip-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function stClipFolder(name: string, layout: "legacy" | "transformer"): string {
  const dir = path.join(root, name);
  const folder = layout === "legacy" ? "0_CLIPModel" : "";
  fs.mkdirSync(path.join(dir, folder), { recursive: true });
  for (const f of CLIP_FILES) fs.copyFileSync(path.join(CLIP, f), path.join(dir, folder, f));
  const type = layout === "legacy" ? "sentence_transformers.models.CLIPModel" : "sentence_transformers.base.modules.Transformer";
  fs.writeFileSync(path.join(dir, "modules.json"), JSON.stringify([{ idx: 0, name: "0", path: folder, type }]));
  return dir;
}

async function expectClipParity(model: TextToImageClipModel): Promise<void> {
  const ref = readReference("clip-tiny");
  using text = await model.encodeQueries(readReferenceJson("clip-tiny").texts, { grad: false });
  expect(maxAbsDiff(text.toFloat32Array(), ref.tensor("text_embeds"))).toBeLessThan(TEXT_TOL);
  using images = await model.forwardItems(["image0.png", "image1.png", "image2.png"].map((f) => path.join(CLIP, f)));
  expect(maxAbsDiff(images.toFloat32Array(), ref.tensor("image_embeds"))).toBeLessThan(IMAGE_TOL);
}

describe("sentence-transformers CLIP folders", () => {
  test.each(["legacy", "transformer"] as const)("the %s layout loads with TextToImageClipModel: text_embeds within 1e-5, image_embeds within 1e-2; the CLI detects kind clip", async (layout) => {
    const dir = stClipFolder(`st-${layout}`, layout);
    using model = await TextToImageClipModel.fromPretrained(dir);
    await expectClipParity(model);
    expect(detectKind(dir)).toBe("clip");
  });

  test("SentenceTransformerModel refuses them with an UnsupportedError naming TextToImageClipModel", async () => {
    for (const layout of ["legacy", "transformer"] as const)
      await expect(SentenceTransformerModel.fromPretrained(stClipFolder(`st-refused-${layout}`, layout))).rejects.toMatchObject({ name: "UnsupportedError", message: expect.stringContaining("load it with TextToImageClipModel.fromPretrained") });
  });

  test("a Hub id holding the legacy layout loads from the Hugging Face cache offline", async () => {
    const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
    try {
      process.env.HF_HUB_CACHE = path.join(root, "hub");
      process.env.HF_HUB_OFFLINE = "1";
      const dir = stClipFolder("st-hub", "legacy");
      const files = Object.fromEntries(["modules.json", ...CLIP_FILES.map((f) => `0_CLIPModel/${f}`)].map((f) => [f, fs.readFileSync(path.join(dir, f))]));
      writePythonCache(path.join(root, "hub"), "sentence-transformers/clip-tiny", "c".repeat(40), files);
      using model = await TextToImageClipModel.fromPretrained("sentence-transformers/clip-tiny");
      await expectClipParity(model);
    } finally {
      for (const [key, value] of [["HF_HUB_CACHE", saved.cache], ["HF_HUB_OFFLINE", saved.offline]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
