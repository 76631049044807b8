"""A compact Hugging Face BertModel in plain torch.nn, for bench/text.

Parameter names equal the keys of a Hugging Face BERT checkpoint
(embeddings.word_embeddings.weight, encoder.layer.0.attention.self.query.weight,
..., pooler.dense.weight), so a model.safetensors loads by name. The math is
modeling_bert.py's eager path: exact (erf) GELU, LayerNorm eps from the config,
additive mask (1 - mask) * finfo(dtype).min, dropout where HF has it (inactive in
eval mode; from_safetensors returns the model in eval mode). No transformers, no safetensors
package: read_safetensors parses the file with struct/json + torch.frombuffer.
XLM-R (config model_type "xlm-roberta") is the same model with RobertaEmbeddings'
position ids (from pad_token_id + 1 on, padding at pad_token_id), as in
modeling_xlm_roberta.py.
"""
import json
import math
import struct

import torch
from torch import nn

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    """{name: tensor} from a .safetensors file (8-byte LE header length, JSON header, raw data)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())  # writable: torch.frombuffer warns on read-only buffers
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        count = (end - start) // torch.tensor([], dtype=dtype).element_size()
        # Views of `data` (frombuffer keeps it alive); load_state_dict copies them into the parameters.
        t = torch.frombuffer(data, dtype=dtype, count=count, offset=8 + header_len + start) if count else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(entry["shape"])
    return out


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c.get("pad_token_id", 0))
        # XLM-R (model_type xlm-roberta / roberta): positions count up from pad_token_id + 1, padding
        # tokens sit at pad_token_id (HF create_position_ids_from_input_ids); BERT: 0..L-1.
        self.padding_idx = c.get("pad_token_id", 1) if c.get("model_type") in ("xlm-roberta", "roberta") else None
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"], padding_idx=self.padding_idx)
        self.token_type_embeddings = nn.Embedding(c.get("type_vocab_size", 2), c["hidden_size"])
        # HF spelling: the attribute name is the checkpoint key.
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(c.get("hidden_dropout_prob", 0.1))

    def forward(self, input_ids):  # [B, L] -> [B, L, H]
        length = input_ids.shape[1]
        if self.padding_idx is None:
            positions = torch.arange(length, dtype=torch.long, device=input_ids.device).unsqueeze(0)  # [1, L]
        else:
            real = input_ids.ne(self.padding_idx).long()                  # [B, L]
            positions = torch.cumsum(real, dim=1) * real + self.padding_idx  # [B, L]
        types = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(types) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.head_dim = h // self.heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.dropout = nn.Dropout(c.get("attention_probs_dropout_prob", 0.1))

    def forward(self, hidden, mask):  # [B, L, H], [B, 1, 1, L] -> [B, L, H]
        b, n, _ = hidden.shape

        def split(x):  # [B, L, H] -> [B, nh, L, hd]
            return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(hidden)), split(self.key(hidden)), split(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask  # [B, nh, L, L]
        context = torch.matmul(self.dropout(torch.softmax(scores, dim=-1)), v)  # [B, nh, L, hd]
        return context.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(c.get("hidden_dropout_prob", 0.1))

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, hidden, mask):
        return self.output(self.self(hidden, mask), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, hidden):
        return nn.functional.gelu(self.dense(hidden))  # exact (erf) GELU, HF "gelu"


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(c.get("hidden_dropout_prob", 0.1))

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, hidden, mask):
        attended = self.attention(hidden, mask)
        return self.output(self.intermediate(attended), attended)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, hidden, mask):
        for layer in self.layer:
            hidden = layer(hidden, mask)
        return hidden


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, hidden):  # [B, L, H] -> [B, H]
        return torch.tanh(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    """input_ids [B, L] int64, attention_mask [B, L] (1 real, 0 padding) -> pooler_output [B, H]."""

    def __init__(self, config):
        super().__init__()
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)

    def forward(self, input_ids, attention_mask):
        hidden = self.embeddings(input_ids)
        keep = attention_mask.to(hidden.dtype)[:, None, None, :]  # [B, 1, 1, L]
        mask = (1.0 - keep) * torch.finfo(hidden.dtype).min       # HF's extended attention mask
        return self.pooler(self.encoder(hidden, mask))

    @classmethod
    def from_safetensors(cls, config, path):
        model = cls(config)
        model.load_state_dict(read_safetensors(path), strict=True)  # raises naming missing/unexpected keys
        return model.eval()
