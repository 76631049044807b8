#include "models/bert_attention.h"

#include <torch/version.h>

#include <cmath>

#include "models/inference_path.h"

namespace et {

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertSelfAttentionImpl::reset() {
  const auto h = options.hidden_size();
  query = register_module("query", torch::nn::Linear(h, h));
  key = register_module("key", torch::nn::Linear(h, h));
  value = register_module("value", torch::nn::Linear(h, h));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  if (UseInferencePath(*this, hidden)) return forward_inference(hidden, mask);
  const auto heads = options.num_attention_heads();
  const auto head_dim = options.hidden_size() / heads;
  // unflatten/flatten instead of view({B, L, ...}): the C++ tracer would freeze
  // B and L as constants, and a traced module must accept any batch and length.
  auto split = [&](const torch::Tensor& x) { return x.unflatten(-1, {heads, head_dim}).transpose(1, 2); };
  const auto q = split(query->forward(hidden));  // [B, nh, L, hd]
  const auto k = split(key->forward(hidden));    // [B, nh, L, hd]
  const auto v = split(value->forward(hidden));  // [B, nh, L, hd]
  const double dropout = is_training() ? options.attention_probs_dropout_prob() : 0.0;
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels where the device has them; the default scale is 1/sqrt(hd), as HF.
  const c10::optional<torch::Tensor> bias = mask.defined() ? c10::optional<torch::Tensor>(mask) : c10::nullopt;
  const auto context = at::scaled_dot_product_attention(q, k, v, bias, dropout);  // [B, nh, L, hd]
#else
  // libtorch 1.13 has no public SDPA: HF's eager formulation.
  auto scores = torch::matmul(q, k.transpose(-1, -2)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));  // [B, nh, L, L]
  if (mask.defined()) scores = scores + mask;
  const auto probs = torch::dropout(torch::softmax(scores, -1), dropout, is_training());  // [B, nh, L, L]
  const auto context = torch::matmul(probs, v);                                         // [B, nh, L, hd]
#endif
  return context.transpose(1, 2).flatten(2);  // [B, L, H]
}

torch::Tensor BertSelfAttentionImpl::forward_inference(const torch::Tensor& hidden, const torch::Tensor& mask) {
  const auto qkv = qkv_.forward({query, key, value}, hidden);                    // [B, L, 3H]
  return SelfAttentionInference(qkv, options.num_attention_heads(), mask);  // [B, L, H]
}

BertSelfOutputImpl::BertSelfOutputImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertSelfOutputImpl::reset() {
  const auto h = options.hidden_size();
  dense = register_module("dense", torch::nn::Linear(h, h));
  LayerNorm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(options.layer_norm_eps())));
}

torch::Tensor BertSelfOutputImpl::forward(const torch::Tensor& hidden, const torch::Tensor& residual) {
  if (UseInferencePath(*this, hidden))
    return LayerNormInference(LayerNorm, dense_.forward({dense}, hidden, LinearActivation::kNone, residual));
  const auto projected = torch::dropout(dense->forward(hidden), options.hidden_dropout_prob(), is_training());
  return LayerNorm->forward(projected + residual);  // [B, L, H]
}

BertAttentionImpl::BertAttentionImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertAttentionImpl::reset() {
  self = register_module("self", BertSelfAttention(options));
  output = register_module("output", BertSelfOutput(options));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  return output->forward(self->forward(hidden, mask), hidden);  // [B, L, H]
}

}  // namespace et
