// A small multi-layer perceptron: the smallest NativeModel, used by tests and
// the boundary benchmark to exercise module handles without a checkpoint.
#pragma once
#include <torch/torch.h>

#include "module.h"

namespace et {

struct MLPOptions {
  TORCH_ARG(int64_t, in_features) = 8;
  TORCH_ARG(int64_t, hidden_features) = 16;
  TORCH_ARG(int64_t, out_features) = 4;
};

// input [batch, in] -> relu(fc1) -> fc2 -> [batch, out]
struct MLPImpl : NativeModel {
  explicit MLPImpl(const MLPOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& input);
  std::vector<std::string> input_names() const override { return {"input"}; }
  c10::IValue forward_inputs(const std::vector<at::Tensor>& inputs) override;

  MLPOptions options;
  torch::nn::Linear fc1{nullptr};
  torch::nn::Linear fc2{nullptr};
};

}  // namespace et
