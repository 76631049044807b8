#include "ops.h"

#include <torch/torch.h>

#include "tensor.h"
#include "workers.h"

namespace et {

namespace {

Napi::Value Cat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto array = info[0].As<Napi::Array>();
  const int64_t dim = info[1].As<Napi::Number>().Int64Value();
  std::vector<at::Tensor> tensors;
  tensors.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i)
    tensors.push_back(TensorWrap::FromValue(array.Get(i), "cat: tensor " + std::to_string(i)));
  return QueueTensorTask(env, "cat", nullptr, [tensors = std::move(tensors), dim]() { return torch::cat(tensors, dim); });
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  ExportFunction<Cat>(env, exports, "cat");
}

}  // namespace et
