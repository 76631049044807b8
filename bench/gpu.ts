/**
 * GPU benchmark: our BERT-base forward and training step on CUDA against
 * Hugging Face transformers (eager PyTorch) on the same weights, in one run.
 * Run on the GPU machine by scripts/gpu-check.sh (compiled to .device/js):
 *   node .device/js/bench/gpu.js > gpu-bench.md
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { cuda, Module, runtimeInfo, saveTorchScript, Tensor } from "../lib";
import { trainStepTimer } from "./gpu-train";

const BERT_BASE = {
  vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072,
  max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: "gelu", pad_token_id: 0,
  model_type: "bert", architectures: ["BertModel"],
};
// H100 SXM dense bf16 peak (NVIDIA datasheet); the PCIe card is 756 TFLOP/s.
const BF16_PEAK_TFLOPS = 989;

function ids(batch: number, length: number): { input_ids: Tensor; attention_mask: Tensor } {
  const data = new BigInt64Array(batch * length);
  let s = batch * 1000 + length;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = BigInt(1000 + (s % (BERT_BASE.vocab_size - 1000)));
  }
  return {
    input_ids: Tensor.from(data, [batch, length], { device: "cuda" }),
    attention_mask: Tensor.from(new BigInt64Array(batch * length).fill(1n), [batch, length], { device: "cuda" }),
  };
}

/** Median ms of `iters` calls, each awaited and synchronised (what a caller waits for). */
async function timed(fn: () => Promise<void>, iters: number, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  cuda.synchronize();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    cuda.synchronize();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? NaN;
}

/** FLOPs of a BERT encoder forward: 2 x weights x tokens plus attention's two products. */
function forwardFlops(batch: number, length: number): number {
  const h = BERT_BASE.hidden_size;
  const perLayer = 2 * (4 * h * h + 2 * h * BERT_BASE.intermediate_size) * length + 4 * length * length * h;
  return batch * BERT_BASE.num_hidden_layers * perLayer;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bert-base-"));
  const model = Module.create("bert", { ...BERT_BASE, pooling: "pooler" } as unknown as Record<string, number | string | boolean>);
  await model.saveStateDict(path.join(dir, "model.safetensors"));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(BERT_BASE));
  const python = process.env.EMBEDDINGS_TORCH_PYTHON ?? "python3";
  const hf = JSON.parse(execFileSync(python, [path.join(__dirname, "..", "..", "..", "bench", "python", "hf_gpu.py"), dir], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })) as Record<string, number | string>;

  model.to("cuda");
  const ours: Record<string, number> = {};
  const big = ids(64, 128);
  const forward = (m: Module, inputs: Record<string, Tensor>, autocast?: "bfloat16") => async () => {
    const y = await m.forwardTensor(inputs, autocast ? { autocast } : {});
    y.dispose();
  };
  cuda.setAllowTF32(false);
  ours.fwd_fp32_ms = await timed(forward(model, big), 20);
  cuda.setAllowTF32(true);
  ours.fwd_tf32_ms = await timed(forward(model, big), 20);
  cuda.setAllowTF32(false);
  const bf16 = Module.create("bert", { ...BERT_BASE, pooling: "pooler" } as unknown as Record<string, number | string | boolean>);
  await bf16.loadStateDict(path.join(dir, "model.safetensors"));
  bf16.to("cuda").to("bfloat16");
  ours.fwd_bf16_ms = await timed(forward(bf16, big), 20);
  // GPU_PROFILE_OUT: our forward traced (fp32 and bf16 weights) for bench/python/profile_gpu.py, which
  // profiles its CUDA kernels against HF's with torch.profiler (gpu-check.sh sets it).
  const profileOut = process.env.GPU_PROFILE_OUT;
  const traced = profileOut ? fs.mkdtempSync(path.join(os.tmpdir(), "traced-")) : null;
  if (traced) {
    const example = ids(2, 16);
    await saveTorchScript(model, example, path.join(traced, "ours-fp32.pt"));
    await saveTorchScript(bf16, example, path.join(traced, "ours-bf16.pt"));
    for (const t of Object.values(example)) t.dispose();
  }
  bf16.dispose();
  const one = ids(1, 16);
  ours.latency_1x16_ms = await timed(forward(model, one), 100);
  const train = await trainStepTimer(model, path.join(dir, "model.safetensors"), BERT_BASE, ids, timed);
  Object.assign(ours, train);

  const flops = forwardFlops(64, 128);
  const info = runtimeInfo();
  const rows: [string, string][] = [
    ["forward 64 x 128, fp32 (TF32 off)", "fwd_fp32_ms"],
    ["forward 64 x 128, TF32", "fwd_tf32_ms"],
    ["forward 64 x 128, bf16 weights", "fwd_bf16_ms"],
    ["latency 1 x 16, fp32", "latency_1x16_ms"],
    ["training step 3 x 32 x 64, AdamW, fp32", "train_fp32_ms"],
    ["training step 3 x 32 x 64, AdamW, bf16 weights", "train_bf16_ms"],
  ];
  const lines = [
    `BERT-base shape (random weights), ${new Date().toISOString().slice(0, 10)}, libtorch ${info.torchVersion} (CUDA), HF transformers with torch ${String(hf.torch)} (attention: ${String(hf.attn)}). Median ms per call, lower is better.`,
    "",
    "| case | embeddings-torch | HF transformers | ratio |",
    "|---|---|---|---|",
    ...rows.map(([label, key]) => {
      const a = ours[key];
      const b = Number(hf[key]);
      return `| ${label} | ${a === undefined ? "n/a" : a.toFixed(2)} | ${Number.isFinite(b) ? b.toFixed(2) : "n/a"} | ${a === undefined ? "" : (b / a).toFixed(2) + "x"} |`;
    }),
    "",
    `bf16 forward: ${(flops / ((ours.fwd_bf16_ms ?? NaN) / 1e3) / 1e12).toFixed(0)} TFLOP/s = ${((flops / ((ours.fwd_bf16_ms ?? NaN) / 1e3) / 1e12 / BF16_PEAK_TFLOPS) * 100).toFixed(0)}% of ${BF16_PEAK_TFLOPS} TFLOP/s peak (${(flops / 1e12).toFixed(2)} TFLOP per forward).`,
  ];
  console.log(lines.join("\n"));
  model.dispose();
  if (profileOut && traced) {
    const profile = execFileSync(python, [path.join(__dirname, "..", "..", "..", "bench", "python", "profile_gpu.py"), dir, traced], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    fs.writeFileSync(profileOut, profile);
    fs.rmSync(traced, { recursive: true, force: true });
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
