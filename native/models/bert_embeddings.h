// BertEmbeddingsImpl (HF: BertEmbeddings, and XLMRobertaEmbeddings through
// BertOptions::position_offset): word + position + token type, then LayerNorm.
#pragma once
#include <torch/torch.h>

#include "models/bert_options.h"

namespace et {

struct BertEmbeddingsImpl : torch::nn::Module {
  explicit BertEmbeddingsImpl(const BertOptions& options);
  void reset();
  // input_ids, token_type_ids [B, L] int64 (token_type_ids undefined: all 0) -> [B, L, H]
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);
  // The same on the inference path (inference_path.h): the sums in place, no position or type ids made.
  torch::Tensor forward_inference(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);
  // [B, L] int64 position of each token (see BertOptions::position_offset)
  torch::Tensor position_ids(const torch::Tensor& input_ids) const;

  BertOptions options;
  torch::nn::Embedding word_embeddings{nullptr};
  torch::nn::Embedding position_embeddings{nullptr};
  torch::nn::Embedding token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // HF spelling: the name is a checkpoint key
};
TORCH_MODULE(BertEmbeddings);

}  // namespace et
