#include "models/bert_layer.h"

#include "models/inference_path.h"
#include "small_forward.h"

#include <algorithm>

namespace et {

BertIntermediateImpl::BertIntermediateImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertIntermediateImpl::reset() {
  dense = register_module("dense", torch::nn::Linear(options.hidden_size(), options.intermediate_size()));
}

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& hidden) {
  // CheckBertOptions rejects any other name; the branch is on the config, so a
  // trace keeps it.
  const auto& act = options.hidden_act();
  if (UseInferencePath(*this, hidden)) return dense_.forward({dense}, hidden, ActivationNamed(act));  // [B, L, I]
  const auto x = dense->forward(hidden);  // [B, L, I]
  if (act == "relu") return torch::relu(x);
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") return torch::gelu(x, "tanh");
  return torch::gelu(x);  // "gelu": exact erf form, as HF
}

BertOutputImpl::BertOutputImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertOutputImpl::reset() {
  dense = register_module("dense", torch::nn::Linear(options.intermediate_size(), options.hidden_size()));
  LayerNorm = register_module(
      "LayerNorm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({options.hidden_size()}).eps(options.layer_norm_eps())));
}

torch::Tensor BertOutputImpl::forward(const torch::Tensor& hidden, const torch::Tensor& residual) {
  if (UseInferencePath(*this, hidden))
    return LayerNormInference(LayerNorm, dense_.forward({dense}, hidden, LinearActivation::kNone, residual));
  const auto projected = torch::dropout(dense->forward(hidden), options.hidden_dropout_prob(), is_training());
  return LayerNorm->forward(projected + residual);  // [B, L, H]
}

BertLayerImpl::BertLayerImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertLayerImpl::reset() {
  attention = register_module("attention", BertAttention(options));
  intermediate = register_module("intermediate", BertIntermediate(options));
  output = register_module("output", BertOutput(options));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  const auto attended = attention->forward(hidden, mask);             // [B, L, H]
  return output->forward(intermediate->forward(attended), attended);  // [B, L, H]
}

BertEncoderImpl::BertEncoderImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertEncoderImpl::reset() {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_hidden_layers(); ++i) layer->push_back(BertLayer(options));
}

torch::Tensor BertEncoderImpl::forward(torch::Tensor hidden, const torch::Tensor& mask) {
  const auto& o = options;
  return InBatchChunks(*this, hidden, mask, o.hidden_size(), o.intermediate_size(), o.num_attention_heads(),
                       [&](const torch::Tensor& rows, const torch::Tensor& rows_mask) {
    // A query-sized forward splits its products across partner threads instead of OpenMP's (small_forward.h).
    SmallForwardScope small(SplitsProducts(*this, rows), rows.numel() / std::max<int64_t>(rows.size(-1), 1));
    auto h = rows;
    for (size_t i = 0; i < layer->size(); ++i) h = layer->ptr<BertLayerImpl>(i)->forward(h, rows_mask);
    return h;  // [B, L, H]
  });
}

}  // namespace et
