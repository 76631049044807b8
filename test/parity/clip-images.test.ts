import * as path from "node:path";

import { ImageProcessor } from "../../lib/images";
import { FIXTURES, maxAbsDiff, readReference, readReferenceJson } from "../helpers/fixtures";

import { TextToImageClipModel } from "../../lib/models/clip";

const DIR = path.join(FIXTURES, "clip-tiny");
const IMAGES = readReferenceJson("clip-tiny");
const FILES = (JSON.parse(require("node:fs").readFileSync(IMAGES.path, "utf8")) as { images: string[] }).images.map((f) => path.join(DIR, f));

describe("clip-tiny images from PNG files", () => {
  const ref = readReference("clip-tiny");

  // transformers' processor (torchvision's copy of Pillow's bicubic) rounds some
  // pixels one grey level away from Pillow's, i.e. 1 / 255 / std ≈ 0.015.
  test("pixel values of image0-2 (64x48, 40x90, 32x32: resize, crop, normalise) are within 2e-2 of pixel_values", async () => {
    const processor = await ImageProcessor.fromPretrained(DIR);
    const { data, shape } = await processor.pixelValues(FILES);
    expect(shape).toEqual([3, 3, 32, 32]);
    const diff = maxAbsDiff(data, ref.tensor("pixel_values"));
    console.log(`pixel_values max abs diff ${diff.toExponential(3)}`);
    expect(diff).toBeLessThan(2e-2);
  });

  test("forwardItems on the three PNGs matches image_embeds within 1e-2 (decode, preprocessing and vision tower)", async () => {
    using model = await TextToImageClipModel.fromPretrained(DIR);
    using got = await model.forwardItems(FILES);
    expect(got.shape).toEqual([3, 32]);
    const diff = maxAbsDiff(got.toFloat32Array(), ref.tensor("image_embeds"));
    console.log(`image_embeds from PNGs max abs diff ${diff.toExponential(3)}`);
    expect(diff).toBeLessThan(1e-2);
  });

  test("forwardItems in batches of 2 gives the embeddings of one batch of 3 (batch invariance) within 1e-6", async () => {
    using small = await TextToImageClipModel.fromPretrained(DIR, { batchSize: 2 });
    using big = await TextToImageClipModel.fromPretrained(DIR);
    using a = await small.forwardItems(FILES);
    using b = await big.forwardItems(FILES);
    expect(a.shape).toEqual([3, 32]);
    expect(maxAbsDiff(a.toFloat32Array(), b.toFloat32Array())).toBeLessThan(1e-6);
    expect(maxAbsDiff(b.toFloat32Array(), ref.tensor("image_embeds"))).toBeLessThan(1e-2);
  });
});
