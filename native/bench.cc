#include "bench.h"

#include <torch/torch.h>

#include <chrono>
#include <string>
#include <vector>

#include "errors.h"
#include "module.h"
#include "tensor.h"

namespace et {

namespace {

Napi::Value BenchForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto module = ModuleWrap::FromValue(info[0], "benchForward: module");
  auto array = info[1].As<Napi::Array>();
  std::vector<at::Tensor> inputs;
  inputs.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i)
    inputs.push_back(TensorWrap::FromValue(array.Get(i), "benchForward: input " + std::to_string(i)));
  const int64_t iterations = info[2].As<Napi::Number>().Int64Value();
  const bool inference_mode = info[3].IsString() && info[3].As<Napi::String>().Utf8Value() == "inference_mode";
  double mean_ns = 0;
  Guard(env, "benchForward", [&] {
    // no_grad: the grad mode forward(inputs, false) runs under; inference_mode: what it could use.
    c10::optional<torch::NoGradGuard> no_grad;
    c10::optional<c10::InferenceMode> inference;
    if (inference_mode) inference.emplace();
    else no_grad.emplace();
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iterations; ++i) module->forward(inputs);
    const auto stop = std::chrono::steady_clock::now();
    mean_ns = std::chrono::duration<double, std::nano>(stop - start).count() / static_cast<double>(iterations);
  });
  return Napi::Number::New(env, mean_ns);
}

}  // namespace

void InitBench(Napi::Env env, Napi::Object exports) {
  ExportFunction<BenchForward>(env, exports, "benchForward");
}

}  // namespace et
