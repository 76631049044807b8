// A tiny two-input encoder: the smallest NativeModel with named int64 inputs
// of variable batch and length (input_ids, attention_mask, optional
// token_type_ids), used by the tracing and Triton export tests in place of BERT.
#pragma once
#include <torch/torch.h>

#include "module.h"

namespace et {

struct MaskedMeanOptions {
  TORCH_ARG(int64_t, vocab_size) = 100;
  TORCH_ARG(int64_t, hidden_size) = 16;
  TORCH_ARG(int64_t, type_vocab_size) = 2;
  // Reads the batch size and length as C++ integers (a reshape to [B, L, H]):
  // the pitfall native/trace.h describes, so tests can show that an export
  // catches it. Eager results are the same either way.
  TORCH_ARG(bool, freeze_sizes) = false;
};

// dense(masked mean over tokens of word_embeddings(ids) [+ token_type_embeddings(types)]) -> [B, H]
struct MaskedMeanEncoderImpl : NativeModel {
  explicit MaskedMeanEncoderImpl(const MaskedMeanOptions& options);
  void reset();
  // input_ids, attention_mask: [B, L] int64; token_type_ids: [B, L] int64 or undefined
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& token_type_ids);
  std::vector<std::string> input_names() const override { return {"input_ids", "attention_mask", "token_type_ids"}; }
  c10::IValue forward_inputs(const std::vector<at::Tensor>& inputs) override;

  MaskedMeanOptions options;
  torch::nn::Embedding word_embeddings{nullptr};
  torch::nn::Embedding token_type_embeddings{nullptr};
  torch::nn::Linear dense{nullptr};
};

}  // namespace et
