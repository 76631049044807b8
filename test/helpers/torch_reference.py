"""PyTorch reference for the optimizer and loss parity tests.

Reads one JSON job on stdin, writes the result as JSON on stdout. Run by
test/helpers/torch-reference.ts with /usr/bin/python3 (Debian's PyTorch).
The losses are written here from EmbeddingStudio's formulas, independently of
native/losses.cc.

Jobs:
  {"mode": "loss", "loss": {...}, "inputs": {"query": [[...]], ...}}
      -> {"value": float, "grads": {input name: flat list}}
  {"mode": "train", "model": {"in", "hidden", "out", "params": {name: flat}},
   "optimizer": {...}, "loss": {...}, "steps": [{"query", "positive", "negative",
   "lr"?, "maxGradNorm"?, "frozen"?: [names]}]}
      -> {"steps": [{"loss", "gradNorm", "grads": {name: flat}, "params": {name: flat}}]}
  {"mode": "bert_step", "dir": checkpoint folder, "dtype": "float32" | "float64",
   "batches": {"query" | "positive" | "negative": {"inputIds", "attentionMask": flat, "shape"}},
   "loss": {...}, "optimizer": {...}}
      -> {"loss", "grads": {name: flat}, "params": {name: flat}}: one step of
      bench/python/bert.py's BertModel (transformers' eager math in plain
      torch.nn, eval mode) on pooler outputs, like reference.json -> step
  {"mode": "clip_step", "dir": CLIPModel folder, "dtype", "inputIds", "idsShape",
   "pixelValues", "pixelShape", "positive": [image index per text], "negative": [...],
   "loss": {...}, "optimizer": {...}}
      -> {"loss", "grads", "params"}: one step of test/helpers/torch_clip.py's
      CLIP towers (eval mode): text embeddings as queries, image embeddings as items
"""
import json
import os
import sys

import torch
import torch.nn.functional as F


def tensor(rows):
    return torch.tensor(rows, dtype=torch.float32)


def loss_value(spec, q, p, n=None, pc=None, nc=None):
    kind = spec["kind"]
    if kind == "info_nce":
        candidates = p if n is None else torch.cat([p, n], 0)
        logits = F.normalize(q, dim=1) @ F.normalize(candidates, dim=1).T / spec.get("temperature", 0.05)
        return F.cross_entropy(logits, torch.arange(q.shape[0]))
    pos_ranks = F.cosine_similarity(q, p)
    neg_ranks = F.cosine_similarity(q, n)
    if kind == "cosine_margin":
        return F.relu(spec.get("margin", 0.2) - pos_ranks + neg_ranks).mean()
    # EmbeddingStudio ProbMarginRankingLoss.forward with target = 1 (similarities)
    confidences = torch.ones_like(pos_ranks) if pc is None else torch.min(pc, nc)
    target = torch.ones_like(pos_ranks)
    if kind == "prob_margin_ranking":
        adjusted_diff = -target * (pos_ranks - neg_ranks) + spec.get("margin", 1.0)
        losses = 1 / (1 + torch.exp(-1 * adjusted_diff))
    elif kind == "cosine_prob_margin_ranking":
        adjusted_diff = -target * (pos_ranks - neg_ranks) + spec.get("margin", 0.05)
        # The intended __adjust(x) = -400 x + 6 inside 1 / (1 + exp(adjust)), written as
        # sigmoid: in float32 that literal form overflows (exp(>88) = inf) for pairs
        # already ranked right and its gradient is then inf / inf = NaN.
        losses = torch.sigmoid(spec.get("scale", 400) * adjusted_diff - spec.get("shift", 6))
    else:
        raise ValueError(kind)
    return torch.mean(losses * confidences)


def run_loss(job):
    inputs = {k: tensor(v).requires_grad_(k in ("query", "positive", "negative")) for k, v in job["inputs"].items()}
    value = loss_value(job["loss"], inputs["query"], inputs["positive"], inputs.get("negative"),
                       inputs.get("positiveConfidence"), inputs.get("negativeConfidence"))
    value.backward()
    grads = {k: t.grad.flatten().tolist() for k, t in inputs.items() if t.grad is not None}
    return {"value": value.item(), "grads": grads}


def make_optimizer(spec, params):
    if spec["kind"] == "adamw":
        return torch.optim.AdamW(params, lr=spec["lr"], betas=tuple(spec.get("betas", (0.9, 0.999))),
                                 eps=spec.get("eps", 1e-8), weight_decay=spec.get("weightDecay", 0.01),
                                 amsgrad=spec.get("amsgrad", False))
    return torch.optim.SGD(params, lr=spec["lr"], momentum=spec.get("momentum", 0),
                           dampening=spec.get("dampening", 0), weight_decay=spec.get("weightDecay", 0),
                           nesterov=spec.get("nesterov", False))


def run_train(job):
    m = job["model"]
    model = torch.nn.Sequential()
    model.add_module("fc1", torch.nn.Linear(m["in"], m["hidden"]))
    model.add_module("relu", torch.nn.ReLU())
    model.add_module("fc2", torch.nn.Linear(m["hidden"], m["out"]))
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, values in m["params"].items():
            named[name].copy_(torch.tensor(values, dtype=torch.float32).reshape(named[name].shape))
    optimizer = make_optimizer(job["optimizer"], model.parameters())
    out = []
    for step in job["steps"]:
        for name, p in named.items():
            p.requires_grad_(name not in step.get("frozen", []))
        if "lr" in step:
            for group in optimizer.param_groups:
                group["lr"] = step["lr"]
        optimizer.zero_grad(set_to_none=True)
        value = loss_value(job["loss"], model(tensor(step["query"])), model(tensor(step["positive"])),
                           model(tensor(step["negative"])))
        value.backward()
        grad_norm = None
        if "maxGradNorm" in step:
            trainable = [p for p in model.parameters() if p.requires_grad]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, step["maxGradNorm"]))
        grads = {k: p.grad.flatten().tolist() for k, p in named.items() if p.grad is not None}
        optimizer.step()
        out.append({"loss": value.item(), "gradNorm": grad_norm, "grads": grads,
                    "params": {k: p.detach().flatten().tolist() for k, p in named.items()}})
    return {"steps": out}


def run_bert_step(job):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "python"))
    from bert import BertModel  # the benchmarks' plain-torch.nn BERT; no transformers in Debian's Python

    with open(os.path.join(job["dir"], "config.json")) as f:
        config = json.load(f)
    dtype = {"float32": torch.float32, "float64": torch.float64}[job["dtype"]]
    model = BertModel.from_safetensors(config, os.path.join(job["dir"], "model.safetensors")).to(dtype)
    named = dict(model.named_parameters())
    optimizer = make_optimizer(job["optimizer"], model.parameters())
    optimizer.zero_grad(set_to_none=True)

    def pooled(batch):
        ids = torch.tensor(batch["inputIds"], dtype=torch.long).reshape(batch["shape"])
        mask = torch.tensor(batch["attentionMask"], dtype=torch.long).reshape(batch["shape"])
        return model(ids, mask)

    b = job["batches"]
    value = loss_value(job["loss"], pooled(b["query"]), pooled(b["positive"]), pooled(b["negative"]))
    value.backward()
    grads = {k: p.grad.flatten().tolist() for k, p in named.items() if p.grad is not None}
    optimizer.step()
    return {"loss": value.item(), "grads": grads, "params": {k: p.detach().flatten().tolist() for k, p in named.items()}}


def run_clip_step(job):
    sys.path.insert(0, os.path.dirname(__file__))
    from torch_clip import CLIPTowers  # CLIPModel's towers in plain torch.nn

    with open(os.path.join(job["dir"], "config.json")) as f:
        config = json.load(f)
    dtype = {"float32": torch.float32, "float64": torch.float64}[job["dtype"]]
    model = CLIPTowers.from_safetensors(config, os.path.join(job["dir"], "model.safetensors")).to(dtype)
    named = dict(model.named_parameters())
    optimizer = make_optimizer(job["optimizer"], model.parameters())
    optimizer.zero_grad(set_to_none=True)
    ids = torch.tensor(job["inputIds"], dtype=torch.long).reshape(job["idsShape"])
    pixels = torch.tensor(job["pixelValues"], dtype=torch.float32).reshape(job["pixelShape"])
    images = model.image(pixels)
    value = loss_value(job["loss"], model.text(ids), images[job["positive"]], images[job["negative"]])
    value.backward()
    grads = {k: p.grad.flatten().tolist() for k, p in named.items() if p.grad is not None}
    optimizer.step()
    return {"loss": value.item(), "grads": grads, "params": {k: p.detach().flatten().tolist() for k, p in named.items()}}


def main():
    torch.set_num_threads(1)
    job = json.load(sys.stdin)
    run = {"loss": run_loss, "train": run_train, "bert_step": run_bert_step, "clip_step": run_clip_step}[job["mode"]]
    result = run(job)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
