/**
 * Gradient fidelity with bert-tiny: the fine-tuning step that
 * ../shared/fixtures/bert-tiny/reference.json → `step` describes, computed by
 * transformers + PyTorch 2.11, against TextToTextBertModel + this package's
 * losses and AdamW. The loss within 1e-6 (fixtures/README.md); gradients and
 * the AdamW step as test/helpers/reference-step.ts explains (GRAD_TOL).
 */
import * as path from "node:path";

import { TextToTextBertModel } from "../../lib";
import { Trainer } from "../../lib/training/trainer";
import { FIXTURES } from "../helpers/fixtures";
import { params, referenceStep, stepSpec } from "../helpers/reference-step";

describe("bert-tiny fine-tuning step (reference.json → step)", () => {
  test("the loss equals loss_value (1e-6); every gradient matches grad.* (1e-3 relative: an ill-conditioned step, see GRAD_TOL) and every decided parameter after AdamW matches after_step.* (1e-5 relative)", async () => {
    const { loss, expectedNames, failures } = await referenceStep("cpu");
    expect(Math.abs(loss - stepSpec().loss_value)).toBeLessThan(1e-6);
    expect(expectedNames.length).toBe(55);
    expect(failures).toEqual([]);
  });

  test("fixQueryModel(2) keeps embeddings and layers 0-1 bit-identical through an epoch of AdamW steps while layer 2 and the pooler move; unfixQueryModel() makes all move again", async () => {
    const step = stepSpec();
    const model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32, device: "cpu" });
    try {
      const before = params(model.getQueryModel());
      model.fixQueryModel(2);
      const pairs = step.query.flatMap((q, i) => [0, 1].map((r) => ({ sessionId: `s${i}.${r}`, query: q, positive: step.positive[i]!, negative: step.negative[(i + r) % 3]!, positiveId: `p${i}`, negativeId: `n${i}` })));
      await new Trainer({ progress: false, maxEpochs: 1, batchSize: 2, optimizer: { kind: "adamw", lr: 1e-3, weightDecay: 0.01 } }).fit(model, { train: pairs });
      const after = params(model.getQueryModel());
      const frozen = (name: string) => name.startsWith("embeddings.") || /^encoder\.layer\.[01]\./.test(name);
      let moved = 0;
      for (const [name, value] of before) {
        if (frozen(name)) expect([name, Buffer.from(after.get(name)!.buffer).equals(Buffer.from(value.buffer))]).toEqual([name, true]);
        else if (!Buffer.from(after.get(name)!.buffer).equals(Buffer.from(value.buffer))) moved++;
      }
      const trainable = [...before.keys()].filter((n) => !frozen(n));
      expect(trainable.some((n) => n.startsWith("encoder.layer.2."))).toBe(true);
      expect(moved).toBe(trainable.length);

      // unfixQueryModel(): the next epoch moves every parameter again, the former frozen ones included.
      model.unfixQueryModel();
      await new Trainer({ progress: false, maxEpochs: 1, batchSize: 2, optimizer: { kind: "adamw", lr: 1e-3, weightDecay: 0.01 } }).fit(model, { train: pairs });
      const again = params(model.getQueryModel());
      const unmoved = [...after].filter(([name, value]) => Buffer.from(again.get(name)!.buffer).equals(Buffer.from(value.buffer))).map(([name]) => name);
      expect(unmoved).toEqual([]);
    } finally {
      model.dispose();
    }
  });
});
