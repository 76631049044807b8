/**
 * Gradient fidelity of CLIP fine-tuning (clip-tiny): one step, text queries
 * against image items (positives and negatives), the cosine margin loss,
 * backward through both towers and AdamW, in float64, against the same step
 * in Debian's PyTorch on the same token ids and pixel values
 * (test/helpers/torch_clip.py: CLIPModel's towers in plain torch.nn).
 */
import * as path from "node:path";

import { ImageProcessor, Optimizer, TextToImageClipModel, TextTokenizer, backward, rankingLoss } from "../../lib";
import { FIXTURES, readReferenceJson } from "../helpers/fixtures";
import { reportSkip } from "../helpers/skip";
import { runTorchReference, torchReferenceUnavailable } from "../helpers/torch-reference";

const unavailable = torchReferenceUnavailable();
if (unavailable) reportSkip(`skipped: clip-tiny step against PyTorch (${unavailable})`);
const withPyTorch = unavailable ? test.skip : test;

const CLIP = path.join(FIXTURES, "clip-tiny");
const IMAGES = ["image0.png", "image1.png", "image2.png"].map((f) => path.join(CLIP, f));
const TEXTS = readReferenceJson("clip-tiny").texts.slice(0, 3);
const POSITIVE = [0, 1, 2];
const NEGATIVE = [1, 2, 0];
const LOSS = { kind: "cosine_margin", margin: 0.2 } as const;
const ADAMW = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01 };
/** Float64 on both sides: what is left is the order of float64 roundings. */
const TOL = 1e-10;

const float64 = (t: { dtype: string; data(): unknown; toFloat32Array(): Float32Array }): Float64Array =>
  t.dtype === "float64" ? Float64Array.from(t.data() as Float64Array) : Float64Array.from(t.toFloat32Array());

function relDiff(got: Float64Array | undefined, ref: Float64Array): number {
  if (got === undefined || got.length !== ref.length) return Infinity;
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i] as number));
    diff = Math.max(diff, Math.abs((got[i] as number) - (ref[i] as number)));
  }
  return diff / (scale || 1);
}

/** The attention key biases cannot change softmax(q k^T): their true gradient is 0, every side holds rounding noise. */
const isKeyBias = (name: string) => name.endsWith("self_attn.k_proj.bias");

describe("clip-tiny fine-tuning step against PyTorch", () => {
  withPyTorch("in float64 the loss, every gradient of both towers and every parameter after AdamW equal PyTorch's to 1e-10 relative", async () => {
    using model = await TextToImageClipModel.fromPretrained(CLIP);
    const text = model.getQueryModel().to("float64");
    const vision = model.getItemsModel().to("float64");
    using optimizer = Optimizer.adamw([{ module: text }, { module: vision }], ADAMW);
    optimizer.zeroGrad();
    using query = await model.encodeQueries(TEXTS, { grad: true });
    using positive = await model.encodeItems(POSITIVE.map((i) => IMAGES[i] as string), { grad: true });
    using negative = await model.encodeItems(NEGATIVE.map((i) => IMAGES[i] as string), { grad: true });
    using loss = await rankingLoss(LOSS, { query, positive, negative });
    const ourLoss = float64(loss)[0] as number;
    await backward(loss);
    const grads = new Map<string, Float64Array>();
    for (const [name, g] of optimizer.gradients()) {
      grads.set(name.replace(/^\d+\./, ""), float64(g));
      g.dispose();
    }
    await optimizer.step();
    const after = new Map<string, Float64Array>();
    for (const module of [text, vision]) {
      for (const [name, t] of module.stateDict()) {
        after.set(name, float64(t));
        t.dispose();
      }
    }

    const ids = (await TextTokenizer.fromPretrained(CLIP)).encodeBatch(TEXTS, { maxLength: 77, padding: "max_length" });
    const pixels = await (await ImageProcessor.fromPretrained(CLIP)).pixelValues(IMAGES, "test", 0);
    const ref = runTorchReference<{ loss: number; grads: Record<string, number[]>; params: Record<string, number[]> }>({
      mode: "clip_step",
      dir: CLIP,
      dtype: "float64",
      inputIds: Array.from(ids.inputIds, Number),
      idsShape: [ids.batchSize, ids.length],
      pixelValues: Array.from(pixels.data),
      pixelShape: pixels.shape,
      positive: POSITIVE,
      negative: NEGATIVE,
      loss: LOSS,
      optimizer: { kind: "adamw", ...ADAMW },
    });

    expect(Math.abs(ourLoss - ref.loss)).toBeLessThan(TOL);
    expect(ref.loss).toBeGreaterThan(0);  // a loss of 0 would have no gradient to compare
    const refNames = Object.keys(ref.grads).sort();
    expect([...grads.keys()].sort()).toEqual(refNames);
    expect(refNames.some((n) => n.startsWith("text_model.")) && refNames.some((n) => n.startsWith("vision_model."))).toBe(true);
    let worstGrad = 0;
    let worstParam = 0;
    const failures: string[] = [];
    for (const name of refNames) {
      if (isKeyBias(name)) continue;
      const g = relDiff(grads.get(name), Float64Array.from(ref.grads[name] ?? []));
      const p = relDiff(after.get(name), Float64Array.from(ref.params[name] ?? []));
      worstGrad = Math.max(worstGrad, g);
      worstParam = Math.max(worstParam, p);
      if (!(g < TOL) || !(p < TOL)) failures.push(`${name}: grad ${g.toExponential(2)}, param ${p.toExponential(2)}`);
    }
    console.log(`clip-tiny float64 step: loss diff ${Math.abs(ourLoss - ref.loss).toExponential(2)}, worst gradient ${worstGrad.toExponential(2)}, worst parameter ${worstParam.toExponential(2)} (relative), ${refNames.length} tensors`);
    expect(failures).toEqual([]);
  });
});
