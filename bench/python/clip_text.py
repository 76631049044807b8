"""The text tower of a Hugging Face CLIPModel folder in plain torch.nn, for bench/text.

test/helpers/torch_clip.py's CLIPTowers (modeling_clip.py's eager math, the
checkpoint's parameter names; written for the CLIP parity tests) with only its
text side kept: input_ids [B, L <= 77] -> text_embeds [B, projection_dim], the output
of TextToImageClipModel.forwardQuery / encodeQueries. CLIP's text tower takes no
attention mask: rows are padded with the end-of-text token, pooled at the first
one, and the causal mask keeps the padding after it out of that position.
"""
import os
import sys

from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "helpers"))
from torch_clip import CLIPTowers  # noqa: E402


class CLIPTextModelWithProjection(nn.Module):  # HF: CLIPTextModelWithProjection (its text_embeds)
    input_names = ["input_ids"]
    output_name = "text_embeds"

    def __init__(self, towers):
        super().__init__()
        self.text_model = towers.text_model
        self.text_projection = towers.text_projection

    def forward(self, input_ids):  # [B, L] -> [B, P]
        return self.text_projection(self.text_model(input_ids))

    @classmethod
    def from_safetensors(cls, config, path):
        return cls(CLIPTowers.from_safetensors(config, path)).eval()
