#include "models/mlp.h"

#include "models/registry.h"

namespace et {

MLPImpl::MLPImpl(const MLPOptions& options_) : options(options_) { reset(); }

void MLPImpl::reset() {
  fc1 = register_module("fc1", torch::nn::Linear(options.in_features(), options.hidden_features()));
  fc2 = register_module("fc2", torch::nn::Linear(options.hidden_features(), options.out_features()));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& input) {
  return fc2->forward(torch::relu(fc1->forward(input)));  // [batch, out]
}

c10::IValue MLPImpl::forward_inputs(const std::vector<at::Tensor>& inputs) {
  TORCH_CHECK(inputs.size() == 1 && inputs[0].defined(), "[ERR_SHAPE] mlp takes one input tensor [batch, ",
              options.in_features(), "]");
  TORCH_CHECK(inputs[0].dim() == 2 && inputs[0].size(1) == options.in_features(), "[ERR_SHAPE] mlp input must be [batch, ",
              options.in_features(), "], got ", inputs[0].sizes());
  return forward(inputs[0]);
}

namespace {
std::shared_ptr<NativeModel> MakeMLP(const ModelOptions& o) {
  MLPOptions options;
  options.in_features(o.integer("in_features", 8))
      .hidden_features(o.integer("hidden_features", 16))
      .out_features(o.integer("out_features", 4));
  TORCH_CHECK(options.in_features() > 0 && options.hidden_features() > 0 && options.out_features() > 0,
              "mlp: feature counts must be positive");
  return std::make_shared<MLPImpl>(options);
}
}  // namespace

ET_REGISTER_MODEL("mlp", MakeMLP);

}  // namespace et
