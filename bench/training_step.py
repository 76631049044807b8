"""PyTorch eager side of bench/training-step.ts: the same MLP training step
(three forwards, cosine margin loss, backward, AdamW) timed in /usr/bin/python3.
usage: training_step.py <steps> <batch> <in> <hidden> <out> <threads> [device]  -> JSON {steps_per_second}"""
import json
import sys
import time

import torch
import torch.nn.functional as F

steps, batch, n_in, hidden, n_out, threads = (int(x) for x in sys.argv[1:7])
device = sys.argv[7] if len(sys.argv) > 7 else "cpu"
torch.set_num_threads(threads)
torch.backends.cuda.matmul.allow_tf32 = False
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
inputs = [torch.randn(batch, n_in, device=device) for _ in range(3)]


def step():
    optimizer.zero_grad(set_to_none=True)
    q, p, n = (model(x) for x in inputs)
    loss = F.relu(0.2 - F.cosine_similarity(q, p) + F.cosine_similarity(q, n)).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


for _ in range(10):
    step()
start = time.perf_counter()
for _ in range(steps):
    step()
json.dump({"steps_per_second": steps / (time.perf_counter() - start)}, sys.stdout)
