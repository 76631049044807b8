"""Kernel-level profile of our BERT forward against Hugging Face transformers'
on the same weights and ids, for the GPU rows where we are slower (fp32, TF32)
and for bf16's share of peak. Ours is our C++ model traced on the GPU machine
(bench/gpu.ts writes ours-fp32.pt and ours-bf16.pt): the trace replays exactly
the aten ops our C++ forward issues, so its CUDA kernels are ours, while
torch.profiler can see them. Prints markdown: per case, GPU time per forward
against wall time (launch-bound when they differ), and the top kernels.

usage: profile_gpu.py <checkpoint-dir> <traced-dir> [--device cuda] [--batch 64] [--length 128]
Without transformers (Debian's Python) the HF side is bench/python/bert.py, so
the script also runs on a CPU for a dry run.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(__file__))


def hf_model(ckpt, device):
    try:
        from safetensors.torch import load_file
        from transformers import BertConfig, BertModel
    except ImportError:
        from bert import BertModel as Plain
        with open(os.path.join(ckpt, "config.json")) as f:
            config = json.load(f)
        return Plain.from_safetensors(config, os.path.join(ckpt, "model.safetensors")).to(device), "bench/python/bert.py (no transformers)"
    config = BertConfig.from_json_file(os.path.join(ckpt, "config.json"))
    model = BertModel(config).to(device).eval()
    model.load_state_dict(load_file(os.path.join(ckpt, "model.safetensors")), strict=False)
    return model, f"transformers BertModel (attention: {model.config._attn_implementation})"


def pooled(model):
    def run(ids, mask):
        out = model(input_ids=ids, attention_mask=mask) if not isinstance(model, torch.jit.ScriptModule) else model(ids, mask)
        return out.pooler_output if hasattr(out, "pooler_output") else out
    return run


def profile_case(label, fn, ids, mask, device, iters=5):
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        for _ in range(3):
            fn(ids, mask)
        sync()
        start = time.perf_counter()
        for _ in range(iters):
            fn(ids, mask)
        sync()
        wall_ms = (time.perf_counter() - start) / iters * 1e3
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
        with profile(activities=activities) as prof:
            for _ in range(iters):
                fn(ids, mask)
            sync()
    events = prof.key_averages()
    attr = "self_cpu_time_total"
    if device.startswith("cuda"):  # torch >= 2.4 says device_time_total, older cuda_time_total
        attr = "device_time_total" if events and hasattr(events[0], "device_time_total") else "cuda_time_total"
    kernels = [e for e in events if (getattr(e, attr, 0) or 0) > 0 and (not device.startswith("cuda") or e.device_type.name == "CUDA")]
    gpu_ms = sum(getattr(e, attr) for e in kernels) / iters / 1e3
    kernels.sort(key=lambda e: getattr(e, attr), reverse=True)
    lines = [f"### {label}", "", f"wall {wall_ms:.2f} ms per forward; {'GPU' if device.startswith('cuda') else 'CPU self'} time {gpu_ms:.2f} ms per forward", "",
             "| kernel / op | calls per forward | ms per forward | share |", "|---|---|---|---|"]
    for e in kernels[:15]:
        t = getattr(e, attr) / iters / 1e3
        lines.append(f"| `{e.key[:90]}` | {e.count / iters:.0f} | {t:.3f} | {100 * t / gpu_ms:.1f}% |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("traced")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=128)
    a = ap.parse_args()
    device = a.device
    hf, hf_name = hf_model(a.ckpt, device)
    with open(os.path.join(a.ckpt, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    g = torch.Generator().manual_seed(a.batch * 1000 + a.length)
    ids = torch.randint(min(1000, vocab // 2), vocab, (a.batch, a.length), generator=g).to(device)
    mask = torch.ones_like(ids)
    ours32 = torch.jit.load(os.path.join(a.traced, "ours-fp32.pt"), map_location=device).eval()
    out = [f"## Profile: BERT forward {a.batch} x {a.length} on {device}, torch {torch.__version__}; HF side: {hf_name}", ""]
    with torch.inference_mode():
        diff = (pooled(ours32)(ids, mask) - pooled(hf)(ids, mask)).abs().max().item()
    out.append(f"Same function first: max |ours - HF| on pooler_output (fp32) = {diff:.2e}\n")
    cases = [("fp32 (TF32 off)", False), ("TF32", True)] if device.startswith("cuda") else [("fp32", False)]
    for name, tf32 in cases:
        if device.startswith("cuda"):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        out.append(profile_case(f"HF, {name}", pooled(hf), ids, mask, device))
        out.append(profile_case(f"ours (traced), {name}", pooled(ours32), ids, mask, device))
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        bf16_file = os.path.join(a.traced, "ours-bf16.pt")
        if os.path.exists(bf16_file):
            hf16 = hf.to(torch.bfloat16)
            ours16 = torch.jit.load(bf16_file, map_location=device).eval()
            out.append(profile_case("HF, bf16 weights", pooled(hf16), ids, mask, device))
            out.append(profile_case("ours (traced), bf16 weights", pooled(ours16), ids, mask, device))
    print("\n".join(out))


if __name__ == "__main__":
    main()
