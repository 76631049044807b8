"""Hugging Face transformers (eager PyTorch, default attention) on the same
BERT-base weights as bench/gpu.ts: forward and training-step timings on CUDA.
Prints one JSON object. Usage: python hf_gpu.py <checkpoint-dir>"""
import json
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel

ckpt = sys.argv[1]
config = BertConfig.from_json_file(f"{ckpt}/config.json")
model = BertModel(config).cuda().eval()
model.load_state_dict(load_file(f"{ckpt}/model.safetensors"), strict=False)
torch.manual_seed(0)
results = {"torch": torch.__version__, "attn": model.config._attn_implementation}


def timed(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3


def ids(batch, length):
    g = torch.Generator().manual_seed(batch * 1000 + length)
    x = torch.randint(1000, config.vocab_size, (batch, length), generator=g).cuda()
    return x, torch.ones_like(x)


with torch.inference_mode():
    x, m = ids(64, 128)
    torch.backends.cuda.matmul.allow_tf32 = False
    results["fwd_fp32_ms"] = timed(lambda: model(input_ids=x, attention_mask=m).pooler_output, 20)
    torch.backends.cuda.matmul.allow_tf32 = True
    results["fwd_tf32_ms"] = timed(lambda: model(input_ids=x, attention_mask=m).pooler_output, 20)
    torch.backends.cuda.matmul.allow_tf32 = False
    bf = BertModel(config).cuda().eval().to(torch.bfloat16)
    bf.load_state_dict(model.state_dict())
    results["fwd_bf16_ms"] = timed(lambda: bf(input_ids=x, attention_mask=m).pooler_output, 20)
    del bf
    x1, m1 = ids(1, 16)
    results["latency_1x16_ms"] = timed(lambda: model(input_ids=x1, attention_mask=m1).pooler_output, 100)


def train_step(dtype):
    net = BertModel(config).cuda().train()
    net.load_state_dict(model.state_dict())
    if dtype == "bf16":
        net = net.to(torch.bfloat16)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-5)
    q, qm = ids(32, 64)
    p, pm = ids(32, 64 + 1)
    n, nm = ids(32, 64 + 2)

    def step():
        opt.zero_grad(set_to_none=True)
        eq = net(input_ids=q, attention_mask=qm).pooler_output.float()
        ep = net(input_ids=p[:, :64], attention_mask=pm[:, :64]).pooler_output.float()
        en = net(input_ids=n[:, :64], attention_mask=nm[:, :64]).pooler_output.float()
        cos = torch.nn.functional.cosine_similarity
        loss = torch.relu(0.2 - cos(eq, ep) + cos(eq, en)).mean()
        loss.backward()
        opt.step()

    return timed(step, 10)


results["train_fp32_ms"] = train_step("fp32")
results["train_bf16_ms"] = train_step("bf16")
print(json.dumps(results))
