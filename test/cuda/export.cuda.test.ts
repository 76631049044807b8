import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { cuda, exportToTriton, TextToTextBertModel } from "../../lib";
import { cudaMissing } from "../helpers/cuda";
import { FIXTURES, maxAbsDiff, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";
import { viewInPyTorch } from "../helpers/python-torchscript";
import { pythonTorchMissing } from "../helpers/python";

const missing = cudaMissing("test/cuda/export.cuda.test.ts") ?? pythonTorchMissing();
const describeCuda = missing ? describe.skip : describe;

describeCuda("a model traced on CUDA", () => {
  beforeAll(() => cuda.setAllowTF32(false));

  test("loads in the GPU machine's PyTorch on cuda and gives HF's cuda pooler_output (1e-5); config.pbtxt asks for KIND_GPU", async () => {
    const repository = fs.mkdtempSync(path.join(os.tmpdir(), "et-cuda-export-"));
    try {
      using model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32, device: "cuda" });
      const result = await exportToTriton(model, { repository, name: "bert", device: "cuda" });
      const config = fs.readFileSync(result.query.configPath, "utf8");
      expect(config).toMatch(/kind: KIND_GPU/);
      const ref = readReferenceJson("bert-tiny");
      const view = viewInPyTorch(path.join(result.query.versionDir, "model.pt"), [
        { input_ids: ref.intRows("fixed.input_ids"), attention_mask: ref.intRows("fixed.attention_mask") },
      ]);
      expect(view.parameters.length).toBeGreaterThan(0);
      const [out] = view.outputs;
      expect(out?.device).toMatch(/^cuda/);
      expect(maxAbsDiff(out?.values ?? [], readReferenceTensor("bert-tiny", "fixed.cuda.pooler_output").data)).toBeLessThan(1e-5);
    } finally {
      fs.rmSync(repository, { recursive: true, force: true });
    }
  });
});
