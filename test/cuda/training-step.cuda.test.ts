import { cuda } from "../../lib";
import { cudaMissing } from "../helpers/cuda";
import { referenceStep, stepSpec } from "../helpers/reference-step";

const describeCuda = cudaMissing("test/cuda/training-step.cuda.test.ts") ? describe.skip : describe;

describeCuda("CUDA fine-tuning step (TF32 off) against transformers + PyTorch 2.11", () => {
  beforeAll(() => cuda.setAllowTF32(false));

  test("on cuda the loss equals loss_value (1e-6), every gradient matches grad.* (1e-3 relative, see GRAD_TOL) and every decided parameter after AdamW matches after_step.* (1e-5 relative)", async () => {
    const { loss, expectedNames, failures } = await referenceStep("cuda");
    expect(Math.abs(loss - stepSpec().loss_value)).toBeLessThan(1e-6);
    expect(expectedNames.length).toBe(55);
    expect(failures).toEqual([]);
  });
});
