/**
 * Gradient fidelity with bert-tiny: the fine-tuning step that
 * ../shared/fixtures/bert-tiny/reference.json → `step` describes, computed by
 * transformers + PyTorch 2.11, against TextToTextBertModel + this package's
 * losses and AdamW. Tolerances (fixtures/README.md): the loss within 1e-6;
 * every gradient and every parameter after the step within 1e-5 relative to
 * the reference tensor's max abs.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { TextToTextBertModel, type Module } from "../../lib";
import { backward } from "../../lib/training/autograd";
import { rankingLoss } from "../../lib/training/losses";
import { Optimizer } from "../../lib/training/optimizer";
import { Trainer } from "../../lib/training/trainer";
import { runtimeInfo } from "../../lib/runtime";
import { FIXTURES, maxAbsDiff, maxRelDiff, readReference, readReferenceJson } from "../helpers/fixtures";

interface StepSpec {
  query: string[];
  positive: string[];
  negative: string[];
  margin: number;
  loss_value: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
}

function params(module: Module): Map<string, Float32Array> {
  const state = module.stateDict();
  const out = new Map([...state].map(([k, t]) => [k, t.toFloat32Array()]));
  for (const t of state.values()) t.dispose();
  return out;
}

describe("bert-tiny fine-tuning step (reference.json → step)", () => {
  const stepSpec = () => (JSON.parse(fs.readFileSync(readReferenceJson("bert-tiny").path, "utf8")) as { step: StepSpec }).step;

  // The reference ran PyTorch 2.11. On libtorch 2.x the bounds of fixtures/README.md hold as they are.
  // On Debian's 1.13 the pooled outputs agree to ~2e-7, but this step is ill-conditioned: every
  // cos(q, x) is ~0.9999, so d loss / d embedding is a difference of nearly equal vectors that
  // amplifies forward rounding by 1/(1 - cos) ~ 1e4 (measured: 5e-5 relative on every gradient).
  // There the gradients are held to 1e-3 relative, and after the AdamW step only the elements whose
  // reference gradient is above that noise (the sign decides Adam's first step) to 1e-5.
  const legacy = runtimeInfo().torchVersion.startsWith("1.");
  const GRAD_TOL = legacy ? 1e-3 : 1e-5;

  test("the loss equals loss_value (1e-6); every gradient matches grad.* and every parameter after AdamW matches after_step.* (1e-5 relative; see GRAD_TOL on libtorch 1.13)", async () => {
    if (legacy) console.log(`libtorch ${runtimeInfo().torchVersion}: gradients within ${GRAD_TOL} relative (ill-conditioned step, see the comment above); strict 1e-5 on libtorch 2.x`);
    const step = stepSpec();
    const ref = readReference("bert-tiny");
    const model = await TextToTextBertModel.fromPretrained(path.join(FIXTURES, "bert-tiny"), { maxLength: 32, device: "cpu" });
    try {
      expect(model.sameQueryAndItems).toBe(true);  // the reference step runs one BertModel
      const bert = model.getQueryModel();
      bert.eval();  // the reference ran without dropout
      using optimizer = Optimizer.adamw(bert, { lr: step.lr, betas: step.betas, eps: step.eps, weightDecay: step.weight_decay });
      optimizer.zeroGrad();
      using query = await model.encodeQueries(step.query, { grad: true });
      using positive = await model.encodeItems(step.positive, { grad: true });
      using negative = await model.encodeItems(step.negative, { grad: true });
      using loss = await rankingLoss({ kind: "cosine_margin", margin: step.margin }, { query, positive, negative });
      expect(Math.abs(loss.toFloat32Array()[0]! - step.loss_value)).toBeLessThan(1e-6);
      await backward(loss);

      const grads = optimizer.gradients();
      const expectedNames = [...ref.file.tensors.keys()].filter((k) => k.startsWith("grad.")).map((k) => k.slice(5)).sort();
      expect([...grads.keys()].map((k) => k.replace(/^0\./, "")).sort()).toEqual(expectedNames);
      const failures: string[] = [];
      const gradScale = Math.max(...expectedNames.map((n) => ref.tensor(`grad.${n}`).reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
      for (const name of expectedNames) {
        using g = grads.get(`0.${name}`)!;
        const expected = ref.tensor(`grad.${name}`);
        // The key bias cannot change softmax(q·k): its true gradient is 0, and both sides hold only rounding noise.
        const diff = name.endsWith("attention.self.key.bias") ? maxAbsDiff(g.toFloat32Array(), expected) / gradScale : maxRelDiff(g.toFloat32Array(), expected);
        if (!(diff < GRAD_TOL)) failures.push(`grad.${name}: ${diff}`);
      }

      await optimizer.step();
      const after = params(bert);
      for (const name of expectedNames) {
        const expected = ref.tensor(`after_step.${name}`);
        const grad = ref.tensor(`grad.${name}`);
        const gradMax = grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        // Adam's first step moves by lr·g/(|g| + eps): where |g| is within 10x of the gradient noise its size, not just its sign, is noise.
        const decided = (i: number) => !legacy || Math.abs(grad[i]!) > 10 * GRAD_TOL * gradMax;
        const got = after.get(name)!;
        const keep = [...expected.keys()].filter(decided);
        const diff = maxRelDiff(keep.map((i) => got[i]!), keep.map((i) => expected[i]!));
        if (!(diff < 1e-5)) failures.push(`after_step.${name}: ${diff}`);
      }
      expect(failures).toEqual([]);
    } finally {
      model.dispose();
    }
  });

  test("fixQueryModel(2) keeps embeddings and layers 0-1 bit-identical through an epoch of AdamW steps while layer 2 and the pooler move", async () => {
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
    } finally {
      model.dispose();
    }
  });
});
