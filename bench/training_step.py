"""PyTorch eager side of bench/training-step.ts: the same training step (three
forwards with grad, cosine margin loss, backward, AdamW) on the same weights and
batch, timed in /usr/bin/python3.

usage: training_step.py <job.json>
  job: {"kind": "mlp" | "bert", "threads": n, "weights": model.safetensors,
        "mlp": {"in", "hidden", "out", "inputs": [[flat] x3]} | "bert": {"config": {...},
        "batches": [{"inputIds", "attentionMask", "shape"} x3]}}
protocol (one JSON line per reply on stdout):
  start             -> {"parity_loss": loss of one eval-mode forward, no step}
  then per line "<n>" on stdin -> {"seconds": wall time of n train-mode steps}
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "python"))
from bert import BertModel, read_safetensors  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    weights = read_safetensors(job["weights"])
    if job["kind"] == "mlp":
        m = job["mlp"]
        model = torch.nn.Sequential()
        model.add_module("fc1", torch.nn.Linear(m["in"], m["hidden"]))
        model.add_module("relu", torch.nn.ReLU())
        model.add_module("fc2", torch.nn.Linear(m["hidden"], m["out"]))
        model.load_state_dict(weights, strict=True)
        batches = [(torch.tensor(x, dtype=torch.float32).reshape(-1, m["in"]),) for x in m["inputs"]]
    else:
        model = BertModel(job["bert"]["config"])
        model.load_state_dict(weights, strict=True)
        batches = [tuple(torch.tensor(b[k], dtype=torch.long).reshape(b["shape"]) for k in ("inputIds", "attentionMask"))
                   for b in job["bert"]["batches"]]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def loss_of():
        q, p, n = (model(*b) for b in batches)
        return F.relu(0.2 - F.cosine_similarity(q, p) + F.cosine_similarity(q, n)).mean()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of()
        loss.backward()
        optimizer.step()
        return loss.item()

    model.eval()
    with torch.no_grad():
        reply({"parity_loss": loss_of().item()})
    model.train()
    for line in sys.stdin:
        n = int(line)
        start = time.perf_counter()
        for _ in range(n):
            step()
        reply({"seconds": time.perf_counter() - start})


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
