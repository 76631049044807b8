// CUDA checks of the training stack (issue 5), for a machine with a GPU and a CUDA
// libtorch: optimizers and losses on CUDA against CPU, optimizer state on CUDA,
// Trainer crash/resume and freezing on CUDA, AdamW against the local PyTorch, and
// MLP training steps per second against PyTorch eager. Not run by the tests.
//   npm run build:native && npm run build:ts && node bench/gpu-training-check.js
// (CHECK_DEVICE=cpu runs it on the CPU; PYTHON names a python with torch.)
"use strict";
const path = require("node:path");
const fs = require("node:fs");
const os = require("node:os");
const { spawnSync } = require("node:child_process");
const et = require("../dist/index.js");
const { Module, Tensor, cuda, Optimizer, rankingLoss, backward, Trainer } = et;
const DEVICE = process.env.CHECK_DEVICE || "cuda";
const ROOT = path.resolve(__dirname, "..");
let failures = 0;
function check(name, ok, detail) {
  if (!ok) failures++;
  console.log(`${ok ? "PASS" : "FAIL"} ${name}${detail !== undefined ? `: ${detail}` : ""}`);
}
function seeded(seed, n, scale = 1) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
const SH = { "fc1.weight": [32, 16], "fc1.bias": [32], "fc2.weight": [8, 32], "fc2.bias": [8] };
function mlp(device, seed = 1) {
  const m = Module.create("mlp", { in_features: 16, hidden_features: 32, out_features: 8 });
  m.loadStateDict(new Map(Object.entries(SH).map(([k, s], i) => [k, Tensor.from(seeded(seed * 10 + i, s.reduce((a, b) => a * b, 1), 0.5), s)])));
  if (device !== "cpu") m.to(device);
  return m;
}
function weights(m) {
  const st = m.stateDict();
  const out = Object.fromEntries([...st].map(([k, t]) => [k, Array.from(t.toFloat32Array())]));
  for (const t of st.values()) t.dispose();
  return out;
}
function relDiff(a, b) {
  let scale = 0, d = 0;
  for (let i = 0; i < b.length; i++) (scale = Math.max(scale, Math.abs(b[i]))), (d = Math.max(d, Math.abs(a[i] - b[i])));
  return d / (scale || 1);
}
async function stepOnce(m, opt, loss, seed, device) {
  opt.zeroGrad();
  const emb = async (s) => {
    const x = Tensor.from(seeded(s, 6 * 16), [6, 16], { device });
    const y = await m.forwardTensor([x], { grad: true });
    x.dispose();
    return y;
  };
  const q = await emb(seed), p = await emb(seed + 1), n = await emb(seed + 2);
  const l = await rankingLoss(loss, { query: q, positive: p, negative: n });
  const value = l.toFloat32Array()[0];
  await backward(l);
  const r = await opt.step({ maxGradNorm: 0.5 });
  for (const t of [q, p, n, l]) t.dispose();
  return { value, norm: r.gradNorm };
}

async function cpuVsDevice() {
  for (const loss of [{ kind: "cosine_margin", margin: 0.5 }, { kind: "prob_margin_ranking" }, { kind: "cosine_prob_margin_ranking", margin: 0.5, scale: 20, shift: 1 }, { kind: "info_nce", temperature: 0.1 }]) {
    const a = mlp("cpu"), b = mlp(DEVICE);
    const oa = Optimizer.adamw(a, { lr: 1e-2, weightDecay: 0.01 }), ob = Optimizer.adamw(b, { lr: 1e-2, weightDecay: 0.01 });
    let worst = 0, lossDiff = 0;
    for (let s = 0; s < 3; s++) {
      const ra = await stepOnce(a, oa, loss, 100 + s * 7, "cpu");
      const rb = await stepOnce(b, ob, loss, 100 + s * 7, DEVICE);
      lossDiff = Math.max(lossDiff, Math.abs(ra.value - rb.value));
      const wa = weights(a), wb = weights(b);
      for (const k of Object.keys(wa)) worst = Math.max(worst, relDiff(wb[k], wa[k]));
    }
    check(`${loss.kind}: 3 clipped AdamW steps on ${DEVICE} match CPU (params 1e-5 rel, loss 1e-5)`, worst < 1e-5 && lossDiff < 1e-5, `params ${worst.toExponential(2)}, loss ${lossDiff.toExponential(2)}`);
  }
}

async function stateOnDevice() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-"));
  const a = mlp(DEVICE), b = mlp(DEVICE);
  const oa = Optimizer.adamw(a, { lr: 1e-2, amsgrad: true }), ob = Optimizer.adamw(b, { lr: 1e-2, amsgrad: true });
  for (const s of [1, 2]) (await stepOnce(a, oa, { kind: "info_nce" }, s, DEVICE), await stepOnce(b, ob, { kind: "info_nce" }, s, DEVICE));
  await ob.save(path.join(dir, "o.safetensors"));
  await b.saveStateDict(path.join(dir, "m.safetensors"));
  const c = mlp(DEVICE, 9);
  await c.loadStateDict(path.join(dir, "m.safetensors"));
  const oc = Optimizer.adamw(c, { lr: 1, amsgrad: true });
  await oc.load(path.join(dir, "o.safetensors"));
  const st = oc.stateDict();
  const devices = new Set([...st.values()].filter((t) => t.shape.length > 0).map((t) => t.device));
  await stepOnce(a, oa, { kind: "info_nce" }, 3, DEVICE);
  await stepOnce(c, oc, { kind: "info_nce" }, 3, DEVICE);
  const wa = weights(a), wc = weights(c);
  const worst = Math.max(...Object.keys(wa).map((k) => relDiff(wc[k], wa[k])));
  check(`optimizer state saved on ${DEVICE} reloads onto ${[...devices].join(",")} and continues identically`, worst === 0 && devices.size === 1 && !devices.has("cpu"), `max rel diff ${worst}`);
}

class Tower {
  constructor(device, failAfter = Infinity) {
    this.device = device;
    this.failAfter = failAfter;
    this.calls = 0;
    this.query = mlp(device, 3);
    this.items = mlp(device, 4);
  }
  get sameQueryAndItems() { return false; }
  getQueryModel() { return this.query; }
  getItemsModel() { return this.items; }
  feats(texts) {
    const out = new Float32Array(texts.length * 16);
    texts.forEach((t, r) => t.split(" ").forEach((w) => { let h = 7; for (const ch of w) h = (h * 31 + ch.charCodeAt(0)) >>> 0; out[r * 16 + (h % 16)] += 0.5; }));
    return Tensor.from(out, [texts.length, 16], { device: this.device });
  }
  async encodeQueries(texts, { grad }) {
    if (grad && ++this.calls > this.failAfter) throw new Error("simulated crash");
    const x = this.feats(texts); const y = await this.query.forwardTensor([x], { grad }); x.dispose(); return y;
  }
  async encodeItems(texts, { grad }) { const x = this.feats(texts); const y = await this.items.forwardTensor([x], { grad }); x.dispose(); return y; }
  fixQueryModel() { this.query.setRequiresGrad("fc1", false); }
  unfixQueryModel() { this.query.setRequiresGrad("", true); }
  fixItemModel() { this.items.setRequiresGrad("fc1", false); }
  unfixItemModel() { this.items.setRequiresGrad("", true); }
}

async function trainerOnDevice() {
  const words = ["red", "blue", "shoes", "lamp", "mug", "green", "bag", "coat"];
  const pairs = Array.from({ length: 32 }, (_, i) => ({ sessionId: `s${i}`, query: `${words[i % 8]} ${words[(i * 3) % 8]}`, positive: `${words[(i * 3) % 8]} ${words[i % 8]}`, negative: `${words[(i + 5) % 8]}`, positiveId: "p", negativeId: "n" }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-tr-"));
  const opts = (d) => ({ progress: false, seed: 5, maxEpochs: 2, batchSize: 4, accumulateGradBatches: 2, optimizer: { kind: "adamw", lr: 0.05 }, itemsOptimizer: { kind: "sgd", lr: 0.1, momentum: 0.9 }, schedule: { kind: "linear", warmupSteps: 2 }, freeze: { layers: 0, untilStep: 3 }, checkpoint: { dir: d, everyNSteps: 2 } });
  const ref = await new Trainer(opts(path.join(dir, "a"))).fit(new Tower(DEVICE), { train: pairs });
  const crashing = new Tower(DEVICE, 8);
  let crashed = false;
  try { await new Trainer(opts(path.join(dir, "b"))).fit(crashing, { train: pairs }); } catch (e) { crashed = /simulated crash/.test(String(e)); }
  const resumedModel = new Tower(DEVICE);
  const resumed = await new Trainer(opts(path.join(dir, "b"))).fit(resumedModel, { train: pairs }, { resumeFrom: path.join(dir, "b") });
  const diffs = resumed.steps.map((s, i) => Math.abs(s.loss - ref.steps[4 + i].loss));
  check(`Trainer on ${DEVICE}: crash at step 5, resume from step 4 reproduces losses (1e-6)`, crashed && resumed.steps.length === 4 && Math.max(...diffs) < 1e-6, `diffs ${diffs.map((d) => d.toExponential(1)).join(" ")}`);
  const frozen = new Tower(DEVICE);
  const before = weights(frozen.query)["fc1.weight"];
  await new Trainer({ progress: false, maxEpochs: 1, batchSize: 8, optimizer: { kind: "adamw", lr: 0.05, weightDecay: 0.5 }, freeze: { layers: 0 } }).fit(frozen, { train: pairs });
  const after = weights(frozen.query);
  check(`freeze on ${DEVICE}: fc1 bit-identical after an epoch, fc2 moved`, JSON.stringify(after["fc1.weight"]) === JSON.stringify(before) && JSON.stringify(after["fc2.weight"]) !== JSON.stringify(weights(new Tower(DEVICE).query)["fc2.weight"]));
}

function torchReferenceVersion() {
  const r = spawnSync(process.env.PYTHON || "python3", ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
  return r.stdout.trim();
}

async function adamwVsPythonTorch() {
  // The parity job of test/parity/optimizer-vs-pytorch.test.ts, against this machine's PyTorch.
  const NAMES = Object.keys(SH);
  const params = Object.fromEntries(NAMES.map((n, i) => [n, seeded(10 + i, SH[n].reduce((a, b) => a * b, 1), 0.5)]));
  const rows = (v) => Array.from({ length: v.length / 16 }, (_, i) => Array.from(v.subarray(i * 16, i * 16 + 16)));
  const steps = [0, 1, 2].map((s) => ({ query: rows(seeded(100 + 7 * s, 6 * 16)), positive: rows(seeded(101 + 7 * s, 6 * 16)), negative: rows(seeded(102 + 7 * s, 6 * 16)), maxGradNorm: 0.5 }));
  const job = { mode: "train", model: { in: 16, hidden: 32, out: 8, params: Object.fromEntries(NAMES.map((n) => [n, Array.from(params[n])])) }, optimizer: { kind: "adamw", lr: 1e-2, weightDecay: 0.01 }, loss: { kind: "cosine_margin", margin: 0.5 }, steps };
  const run = spawnSync(process.env.PYTHON || "python3", [path.join(ROOT, "test/helpers/torch_reference.py")], { input: JSON.stringify(job), encoding: "utf8" });
  if (run.status !== 0) return check("python reference ran", false, run.stderr.slice(-500));
  const ref = JSON.parse(run.stdout).steps;
  for (const device of ["cpu", DEVICE]) {
    const m = mlp(device, 1);
    m.loadStateDict(new Map(NAMES.map((n) => [n, Tensor.from(params[n], SH[n], { device })])));
    const o = Optimizer.adamw(m, { lr: 1e-2, weightDecay: 0.01 });
    let worst = 0, lossDiff = 0;
    for (const [i, s] of steps.entries()) {
      const r = await stepOnce(m, o, job.loss, 100 + 7 * i, device);
      lossDiff = Math.max(lossDiff, Math.abs(r.value - ref[i].loss));
      const w = weights(m);
      for (const k of NAMES) worst = Math.max(worst, relDiff(w[k], ref[i].params[k]));
    }
    check(`3 clipped AdamW steps on ${device} match PyTorch ${torchReferenceVersion()} (CPU) (1e-5 rel)`, worst < 1e-5 && lossDiff < 1e-5, `params ${worst.toExponential(2)}, loss ${lossDiff.toExponential(2)}`);
  }
}

async function bench() {
  const [IN, HID, OUT, B, STEPS] = [1024, 4096, 1024, 256, 200];
  const m = Module.create("mlp", { in_features: IN, hidden_features: HID, out_features: OUT }).to(DEVICE);
  const o = Optimizer.adamw(m, { lr: 1e-3 });
  const xs = [0, 1, 2].map((s) => Tensor.from(seeded(s, B * IN), [B, IN], { device: DEVICE }));
  const step = async () => {
    o.zeroGrad();
    const [q, p, n] = [await m.forwardTensor([xs[0]], { grad: true }), await m.forwardTensor([xs[1]], { grad: true }), await m.forwardTensor([xs[2]], { grad: true })];
    const l = await rankingLoss({ kind: "cosine_margin" }, { query: q, positive: p, negative: n });
    await backward(l);
    await o.step();
    const v = l.toFloat32Array()[0];
    for (const t of [q, p, n, l]) t.dispose();
    return v;
  };
  for (let i = 0; i < 10; i++) await step();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < STEPS; i++) await step();
  const ours = STEPS / (Number(process.hrtime.bigint() - t0) / 1e9);
  const r = spawnSync(process.env.PYTHON || "python3", [path.join(ROOT, "bench/training_step.py"), ...[STEPS, B, IN, HID, OUT, 16, DEVICE].map(String)], { encoding: "utf8" });
  const py = r.status === 0 ? JSON.parse(r.stdout).steps_per_second : NaN;
  console.log(`BENCH MLP ${IN}-${HID}-${OUT} batch ${B} on ${DEVICE}: embeddings-torch ${ours.toFixed(1)} steps/s, PyTorch ${torchReferenceVersion()} eager ${py.toFixed(1)} steps/s, ratio ${(ours / py).toFixed(2)} ${r.status === 0 ? "" : r.stderr.slice(-300)}`);
}

(async () => {
  if (DEVICE !== "cpu") {
    check("CUDA is available", cuda.isAvailable(), `${cuda.deviceCount()} device(s)`);
    cuda.setAllowTF32(false);
  }
  for (const f of [cpuVsDevice, stateOnDevice, trainerOnDevice, adamwVsPythonTorch, bench]) {
    try { await f(); } catch (e) { check(f.name, false, e && e.stack ? e.stack.split("\n").slice(0, 4).join(" | ") : String(e)); }
  }
  console.log(`${failures} failure(s)`);
})();
