// A BERT transformer layer and the stack of them: BertIntermediateImpl,
// BertOutputImpl, BertLayerImpl, BertEncoderImpl (HF: same names).
#pragma once
#include <torch/torch.h>

#include "models/bert_attention.h"
#include "models/bert_options.h"
#include "models/inference_path.h"

namespace et {

// Feed-forward expansion: dense to intermediate_size, then hidden_act.
struct BertIntermediateImpl : torch::nn::Module {
  explicit BertIntermediateImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, H] -> [B, L, intermediate_size]
  torch::Tensor forward(const torch::Tensor& hidden);

  BertOptions options;
  torch::nn::Linear dense{nullptr};

 private:
  InferenceLinear dense_;  // dense for inference, hidden_act in its epilogue
};
TORCH_MODULE(BertIntermediate);

// Feed-forward contraction back to hidden_size, added to the attention output.
struct BertOutputImpl : torch::nn::Module {
  explicit BertOutputImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, intermediate_size], residual [B, L, H] -> [B, L, H]
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& residual);

  BertOptions options;
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // HF spelling: the name is a checkpoint key

 private:
  InferenceLinear dense_;  // dense for inference, the residual added in its epilogue
};
TORCH_MODULE(BertOutput);

struct BertLayerImpl : torch::nn::Module {
  explicit BertLayerImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, H], mask [B, 1, 1, L] additive -> [B, L, H]
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);

  BertOptions options;
  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

struct BertEncoderImpl : torch::nn::Module {
  explicit BertEncoderImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, H], mask [B, 1, 1, L] additive -> last_hidden_state [B, L, H]
  torch::Tensor forward(torch::Tensor hidden, const torch::Tensor& mask);

  BertOptions options;
  // num_hidden_layers BertLayers; "layer" as HF, so keys read encoder.layer.<i>.*
  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(BertEncoder);

}  // namespace et
