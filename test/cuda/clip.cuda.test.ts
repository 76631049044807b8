import * as fs from "node:fs";
import * as path from "node:path";

import { cuda, TextToImageClipModel } from "../../lib";
import { cudaMissing } from "../helpers/cuda";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";

const describeCuda = cudaMissing("test/cuda/clip.cuda.test.ts") ? describe.skip : describe;
const DIR = path.join(FIXTURES, "clip-tiny");

describeCuda("CUDA CLIP (TF32 off) against the CPU reference", () => {
  beforeAll(() => cuda.setAllowTF32(false));

  test("text embeddings on cuda match transformers' text_embeds (1e-5); image embeddings match the CPU model's (1e-5)", async () => {
    using gpu = await TextToImageClipModel.fromPretrained(DIR, { device: "cuda" });
    using cpu = await TextToImageClipModel.fromPretrained(DIR);
    const ref = readReferenceJson("clip-tiny");
    const textEmbeds = readReferenceTensor("clip-tiny", "text_embeds").data;
    for (const [i, text] of ref.texts.entries()) {
      using q = await gpu.forwardQuery(text);
      expect(q.device).toBe("cuda:0");
      expect(maxAbsDiff(q.toFloat32Array(), textEmbeds.subarray(i * 32, (i + 1) * 32))).toBeLessThan(1e-5);
    }
    const images = (JSON.parse(fs.readFileSync(ref.path, "utf8")) as { images: string[] }).images.map((f) => path.join(DIR, f));
    using onGpu = await gpu.forwardItems(images);
    using onCpu = await cpu.forwardItems(images);
    expect(onGpu.shape).toEqual([3, 32]);
    expect(maxAbsDiff(onGpu.toFloat32Array(), onCpu.toFloat32Array())).toBeLessThan(1e-5);
  });
});
