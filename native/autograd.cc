#include "autograd.h"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "grad_thread.h"
#include "module.h"
#include "tensor.h"
#include "workers.h"

namespace et {

namespace {

std::vector<at::Tensor> ReadTensors(const Napi::Array& array, const std::string& what) {
  std::vector<at::Tensor> tensors;
  tensors.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i)
    tensors.push_back(TensorWrap::FromValue(array.Get(i), what + "[" + std::to_string(i) + "]"));
  return tensors;
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "backward: outputs must be an array of Tensors");
  auto outputs = ReadTensors(info[0].As<Napi::Array>(), "backward: outputs");
  std::vector<at::Tensor> gradients;
  if (info[1].IsArray()) {
    gradients = ReadTensors(info[1].As<Napi::Array>(), "backward: gradients");
    if (gradients.size() != outputs.size())
      throw Napi::RangeError::New(env, "backward: got " + std::to_string(gradients.size()) + " gradients for " +
                                           std::to_string(outputs.size()) + " outputs");
  }
  // The tensors are copied into the task (references), so JS may dispose its handles meanwhile.
  return QueueTensorTask(env, "backward", nullptr, [outputs, gradients]() {
    for (size_t i = 0; i < outputs.size(); ++i) {
      TORCH_CHECK(outputs[i].requires_grad(), "backward: outputs[", i, "] has no autograd graph; run forward with ",
                  "{ grad: true } and keep some parameter trainable");
      TORCH_CHECK(gradients.empty() || gradients[i].sizes() == outputs[i].sizes(), "[ERR_SHAPE] backward: gradients[", i,
                  "] is ", gradients.empty() ? at::IntArrayRef() : gradients[i].sizes(), " but outputs[", i, "] is ",
                  outputs[i].sizes());
      TORCH_CHECK(!gradients.empty() || outputs[i].numel() == 1, "[ERR_SHAPE] backward: outputs[", i, "] is ",
                  outputs[i].sizes(), ", not a scalar; pass gradients for non-scalar outputs");
    }
    std::vector<at::Tensor> detached;  // the gradients are constants, not part of the graph
    for (const auto& g : gradients) detached.push_back(g.detach());
    // On the autograd thread, like every recorded forward (grad_thread.h).
    RunOnGradThread([&] { torch::autograd::backward(outputs, detached); });
    return at::Tensor();
  });
}

Napi::Value NamedGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto module = ModuleWrap::FromValue(info[0], "namedGradients: module");
  auto out = Napi::Object::New(env);
  for (const auto& p : module->named_parameters()) {
    const auto& grad = p.second.grad();
    out.Set(p.first, grad.defined() ? TensorWrap::New(env, grad) : env.Null());
  }
  return out;
}

}  // namespace

void InitAutograd(Napi::Env env, Napi::Object exports) {
  ExportFunction<Backward>(env, exports, "backwardOutputs");
  ExportFunction<NamedGradients>(env, exports, "namedGradients");
}

}  // namespace et
