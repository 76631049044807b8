"""Hugging Face's CLIPModel towers in plain torch.nn, for the CLIP fine-tuning
step test (Debian's PyTorch has no transformers).

Parameter names equal the keys of a CLIPModel checkpoint
(text_model.encoder.layers.0.self_attn.q_proj.weight, visual_projection.weight,
...), so model.safetensors loads by name. The math is modeling_clip.py's eager
path as documented there: pre-norm encoder layers (x + attn(ln1(x)),
x + mlp(ln2(x))), attention softmax(q k^T / sqrt(d) + mask) v, quick_gelu
x * sigmoid(1.702 x) (the config's hidden_act); the text tower with a causal
mask, pooled at the end-of-text token (the largest id when eos_token_id is 2,
else the first eos_token_id), final layer norm, text_projection; the vision
tower with a class token and patch convolution, pre_layrnorm, the class
token's state through post_layernorm, visual_projection. No dropout (eval).
"""
import math

import torch
from torch import nn


def activation(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return lambda x: torch.nn.functional.gelu(x)
    raise ValueError(f"hidden_act {name} is not implemented here")


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.heads

        def split(t):
            return t.view(b, n, h, d // h).transpose(1, 2)  # [B, h, N, d/h]

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        if mask is not None:
            scores = scores + mask
        out = torch.softmax(scores, dim=-1) @ v  # [B, h, N, d/h]
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.fc2 = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.act = activation(c["hidden_act"])

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        eps = c["layer_norm_eps"]
        self.self_attn = Attention(c)
        self.layer_norm1 = nn.LayerNorm(c["hidden_size"], eps=eps)
        self.mlp = MLP(c)
        self.layer_norm2 = nn.LayerNorm(c["hidden_size"], eps=eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, mask=None):
        for layer in self.layers:
            x = layer(x, mask)
        return x


class TextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])

    def forward(self, ids):
        return self.token_embedding(ids) + self.position_embedding(torch.arange(ids.shape[1]))


class TextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.eos = c.get("eos_token_id", 2)
        self.embeddings = TextEmbeddings(c)
        self.encoder = Encoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids):
        x = self.embeddings(ids)
        n = ids.shape[1]
        causal = torch.full((n, n), torch.finfo(x.dtype).min, dtype=x.dtype).triu(1)  # keys after the query are masked
        x = self.final_layer_norm(self.encoder(x, causal))
        index = ids.argmax(-1) if self.eos == 2 else (ids == self.eos).int().argmax(-1)
        return x[torch.arange(ids.shape[0]), index]


class VisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.class_embedding = nn.Parameter(torch.zeros(d))
        self.patch_embedding = nn.Conv2d(c.get("num_channels", 3), d, kernel_size=p, stride=p, bias=False)
        self.position_embedding = nn.Embedding((c["image_size"] // p) ** 2 + 1, d)

    def forward(self, pixels):
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)  # [B, P, D]
        cls = self.class_embedding.expand(pixels.shape[0], 1, -1)
        x = torch.cat([cls, patches], dim=1)
        return x + self.position_embedding(torch.arange(x.shape[1]))


class VisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        eps = c["layer_norm_eps"]
        self.embeddings = VisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(c["hidden_size"], eps=eps)  # HF spelling: the name is a checkpoint key
        self.encoder = Encoder(c)
        self.post_layernorm = nn.LayerNorm(c["hidden_size"], eps=eps)

    def forward(self, pixels):
        x = self.encoder(self.pre_layrnorm(self.embeddings(pixels)))
        return self.post_layernorm(x[:, 0])


class CLIPTowers(nn.Module):
    def __init__(self, config):
        super().__init__()
        t, v, p = config["text_config"], config["vision_config"], config["projection_dim"]
        self.text_model = TextTransformer(t)
        self.text_projection = nn.Linear(t["hidden_size"], p, bias=False)
        self.vision_model = VisionTransformer(v)
        self.visual_projection = nn.Linear(v["hidden_size"], p, bias=False)

    def text(self, ids):
        return self.text_projection(self.text_model(ids))

    def image(self, pixels):
        return self.visual_projection(self.vision_model(pixels))

    @staticmethod
    def from_safetensors(config, path):
        import os
        import sys
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "python"))
        from bert import read_safetensors

        model = CLIPTowers(config)
        weights = {k: v for k, v in read_safetensors(path).items() if k != "logit_scale"}
        model.load_state_dict(weights, strict=True)
        return model.eval()
