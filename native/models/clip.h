// CLIP's transformer encoder, shared by the text and the vision tower
// (Hugging Face modeling_clip.py: CLIPAttention, CLIPMLP, CLIPEncoderLayer,
// CLIPEncoder). The towers are in clip_text.h and clip_vision.h.
//
// Registered names equal Hugging Face's attribute names, so a tower's
// named_parameters() are the CLIPModel checkpoint keys it owns.
#pragma once
#include <torch/torch.h>

#include <string>
#include "models/inference_path.h"

namespace et {

class ModelOptions;

// The fields both CLIPTextConfig and CLIPVisionConfig carry (config.json keys
// of text_config / vision_config). Defaults: ViT-B/32's vision tower; the
// text options override them with the text tower's.
struct CLIPEncoderOptions {
  TORCH_ARG(int64_t, hidden_size) = 768;
  TORCH_ARG(int64_t, intermediate_size) = 3072;
  TORCH_ARG(int64_t, num_hidden_layers) = 12;
  TORCH_ARG(int64_t, num_attention_heads) = 12;
  // quick_gelu (CLIP's), gelu, gelu_new, gelu_pytorch_tanh, relu, silu
  TORCH_ARG(std::string, hidden_act) = "quick_gelu";
  TORCH_ARG(double, layer_norm_eps) = 1e-5;
  TORCH_ARG(double, attention_dropout) = 0.0;
  // Not a config key: the tower's projection dimension comes from the top
  // level of CLIPConfig (`projection_dim`), which the TS side passes here.
  TORCH_ARG(int64_t, projection_dim) = 512;
  // Not a config key: "embeds" (the projection, CLIPModel's text_embeds /
  // image_embeds) or "pooler_output" (the pooled hidden state before it; for
  // parity tests and feature extraction). Read by the towers, not the encoder.
  TORCH_ARG(std::string, output) = "embeds";
};

// Copies the shared config.json fields present in `from` into `into` (keeps its defaults otherwise).
void ReadEncoderOptions(const ModelOptions& from, CLIPEncoderOptions& into);

// TORCH_CHECKs the invariants every tower needs (head count divides the width, ...).
void CheckEncoderOptions(const CLIPEncoderOptions& o, const char* tower);

// Multi-head self-attention with biased q/k/v/out projections.
struct CLIPAttentionImpl : torch::nn::Module {  // HF: CLIPAttention
  explicit CLIPAttentionImpl(const CLIPEncoderOptions& options);
  void reset();
  // hidden [B, L, D], additive mask [B or 1, 1, L, L] or undefined -> [B, L, D]
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);

  CLIPEncoderOptions options;
  torch::nn::Linear k_proj{nullptr};
  torch::nn::Linear v_proj{nullptr};
  torch::nn::Linear q_proj{nullptr};
  torch::nn::Linear out_proj{nullptr};

 private:
  InferenceLinear qkv_;       // q/k/v stacked for the inference path (models/inference_path.h)
  InferenceLinear out_proj_;  // out_proj for the inference path
};
TORCH_MODULE(CLIPAttention);

struct CLIPMLPImpl : torch::nn::Module {  // HF: CLIPMLP
  explicit CLIPMLPImpl(const CLIPEncoderOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& hidden);  // [B, L, D] -> [B, L, D]

  CLIPEncoderOptions options;
  torch::nn::Linear fc1{nullptr};
  torch::nn::Linear fc2{nullptr};

 private:
  InferenceLinear fc1_;  // fc1 for the inference path, hidden_act in its epilogue
  InferenceLinear fc2_;
};
TORCH_MODULE(CLIPMLP);

// Pre-LayerNorm block: h + attn(ln1(h)), then h + mlp(ln2(h)).
struct CLIPEncoderLayerImpl : torch::nn::Module {  // HF: CLIPEncoderLayer
  explicit CLIPEncoderLayerImpl(const CLIPEncoderOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);  // [B, L, D]

  CLIPEncoderOptions options;
  CLIPAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr};
  CLIPMLP mlp{nullptr};
  torch::nn::LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(CLIPEncoderLayer);

struct CLIPEncoderImpl : torch::nn::Module {  // HF: CLIPEncoder
  explicit CLIPEncoderImpl(const CLIPEncoderOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);  // [B, L, D]

  CLIPEncoderOptions options;
  torch::nn::ModuleList layers{nullptr};  // "layers": the checkpoint's key, not BERT's "layer"
};
TORCH_MODULE(CLIPEncoder);

}  // namespace et
