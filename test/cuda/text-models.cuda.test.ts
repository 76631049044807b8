import * as path from "node:path";

import { cuda, Tensor, TextToTextBertModel, TextToTextE5Model } from "../../lib";
import { cudaMissing } from "../helpers/cuda";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";

const describeCuda = cudaMissing("test/cuda/text-models.cuda.test.ts") ? describe.skip : describe;
// fixtures/README.md: CUDA vs CPU differ by ~2e-7; a correct float32 forward (TF32 off) stays below 1e-5 of both.
const TOL = 1e-5;

describeCuda("CUDA text models (TF32 off) against transformers on an H100", () => {
  beforeAll(() => cuda.setAllowTF32(false));

  test.each([
    ["max_length", "fixed"],
    ["longest", "dynamic"],
  ] as const)("BERT pooler_output on cuda matches HF's cuda and cpu references (%s)", async (padding, mode) => {
    using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32, padding, device: "cuda" });
    expect(model.device).toBe("cuda:0");
    using got = await model.forwardItems(readReferenceJson("bert-tiny").texts);
    expect(got.device).toBe("cuda:0");
    const values = got.toFloat32Array();
    expect(maxAbsDiff(values, readReferenceTensor("bert-tiny", `${mode}.cuda.pooler_output`).data)).toBeLessThan(TOL);
    expect(maxAbsDiff(values, readReferenceTensor("bert-tiny", `${mode}.cpu.pooler_output`).data)).toBeLessThan(TOL);
  });

  test.each([
    ["max_length", "fixed"],
    ["longest", "dynamic"],
  ] as const)("E5 (XLM-R) embeddings on cuda match HF's cuda and cpu mean_pool_l2 (%s, query and plain)", async (padding, mode) => {
    using model = await TextToTextE5Model.fromPretrained(path.join(FIXTURES, "xlmr-tiny"), { maxLength: 32, padding, device: "cuda", itemPrefix: "", queryPrefix: "query: " });
    const texts = readReferenceJson("xlmr-tiny").texts;
    using plain = await model.forwardItems(texts);
    expect(maxAbsDiff(plain.toFloat32Array(), readReferenceTensor("xlmr-tiny", `plain.${mode}.cuda.mean_pool_l2`).data)).toBeLessThan(TOL);
    expect(maxAbsDiff(plain.toFloat32Array(), readReferenceTensor("xlmr-tiny", `plain.${mode}.cpu.mean_pool_l2`).data)).toBeLessThan(TOL);
    model.itemPrefix = "query: ";
    using query = await model.forwardItems(texts);
    expect(maxAbsDiff(query.toFloat32Array(), readReferenceTensor("xlmr-tiny", `query.${mode}.cuda.mean_pool_l2`).data)).toBeLessThan(TOL);
  });

  test("micro-batched forwardQuery on cuda: 8 concurrent texts in 2 forwards, each row on cuda:0 within 1e-5 of HF's cuda pooler_output", async () => {
    using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32, device: "cuda" });
    const texts = readReferenceJson("bert-tiny").texts;
    const expected = readReferenceTensor("bert-tiny", "dynamic.cuda.pooler_output").data;
    const rows = await Promise.all(texts.map((t) => model.forwardQuery(t)));
    expect(model.microBatchStats).toMatchObject({ forwards: 2, queries: 8, largestBatch: 7 });
    rows.forEach((r, i) => {
      expect(r.device).toBe("cuda:0");
      expect(maxAbsDiff(r.toFloat32Array(), expected.subarray(i * 64, (i + 1) * 64))).toBeLessThan(TOL);
      r.dispose();
    });
  });

  test("tensors move between devices and back unchanged", () => {
    using host = Tensor.from(new Float32Array([1.5, -2, 3]), [3]);
    using gpu = host.to("cuda");
    expect(gpu.device).toBe("cuda:0");
    using back = gpu.to("cpu");
    expect(Array.from(back.toFloat32Array())).toEqual([1.5, -2, 3]);
    cuda.synchronize();
    expect(cuda.deviceCount()).toBeGreaterThan(0);
  });

  test("bf16 autocast on cuda stays within 2e-2 of the float32 reference", async () => {
    using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32, device: "cuda", autocast: "bfloat16" });
    using got = await model.forwardItems(readReferenceJson("bert-tiny").texts);
    const diff = maxAbsDiff(got.toFloat32Array(), readReferenceTensor("bert-tiny", "dynamic.cpu.pooler_output").data);
    expect(diff).toBeGreaterThan(1e-6);
    expect(diff).toBeLessThan(2e-2);
  });

  test("an out-of-range token id in a raw forward on cuda is a ShapeError naming it, not a device-side assert; the context stays usable", async () => {
    using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { device: "cuda" });
    using ids = Tensor.from(BigInt64Array.from([101n, 1500n, 102n]), [1, 3], { device: "cuda" });
    await expect(model.getQueryModel().forward({ input_ids: ids })).rejects.toThrow(/token id 1500 at row 0, position 1 is outside \[0, 1500\)/);
    using after = await model.forwardQuery("still works");
    expect(after.device).toBe("cuda:0");
  });
});
