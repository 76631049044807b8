// Self-attention blocks of a BERT layer: BertSelfAttentionImpl,
// BertSelfOutputImpl and BertAttentionImpl, which chains the two (HF: same names).
#pragma once
#include <torch/torch.h>

#include "models/bert_options.h"
#include "models/inference_path.h"

namespace et {

// Multi-head scaled dot-product attention over the layer's own hidden states.
struct BertSelfAttentionImpl : torch::nn::Module {
  explicit BertSelfAttentionImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, H], mask [B, 1, 1, L] additive (0 keep, dtype min drop) or undefined (no padding) -> context [B, L, H]
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);
  // The same result for inference (see UseInferencePath): one fused QKV GEMM,
  // scale and mask folded into the score GEMM, no copies around the head transposes.
  torch::Tensor forward_inference(const torch::Tensor& hidden, const torch::Tensor& mask);

  BertOptions options;
  torch::nn::Linear query{nullptr};
  torch::nn::Linear key{nullptr};
  torch::nn::Linear value{nullptr};

 private:
  InferenceLinear qkv_;  // query/key/value stacked, for forward_inference
};
TORCH_MODULE(BertSelfAttention);

// Projects the attention context and adds it back to the layer input.
struct BertSelfOutputImpl : torch::nn::Module {
  explicit BertSelfOutputImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, H], residual [B, L, H] -> LayerNorm(dense(hidden) + residual) [B, L, H]
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& residual);

  BertOptions options;
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // HF spelling: the name is a checkpoint key

 private:
  InferenceLinear dense_;  // dense for inference, the residual added in its epilogue
};
TORCH_MODULE(BertSelfOutput);

struct BertAttentionImpl : torch::nn::Module {
  explicit BertAttentionImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, H], mask [B, 1, 1, L] -> [B, L, H]
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);

  BertOptions options;
  BertSelfAttention self{nullptr};  // HF attribute "self": checkpoint key attention.self.*
  BertSelfOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

}  // namespace et
