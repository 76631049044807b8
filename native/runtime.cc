#include "runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "addon_data.h"
#include "build_info.h"
#include "compute_thread.h"
#include "models/fused_attention.h"
#include "small_forward.h"
#include "errors.h"
#include "models/inference_path.h"
#include "models/registry.h"
#include "tensor.h"

namespace et {

namespace {

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("torchSource", TorchSource());
  out.Set("torchLibDir", TorchLibDir());
  out.Set("nativeHash", NativeSourceHash());
  out.Set("cudaBuilt", at::hasCUDA());
  out.Set("cudaAvailable", torch::cuda::is_available());
  out.Set("deviceCount", Napi::Number::New(env, static_cast<double>(torch::cuda::device_count())));
  out.Set("numThreads", Napi::Number::New(env, at::get_num_threads()));
  out.Set("interopThreads", Napi::Number::New(env, at::get_num_interop_threads()));
  out.Set("parallelInfo", at::get_parallel_info());
  out.Set("inferenceGemm", DescribeInferenceGemm());
  out.Set("inferenceAttention", DescribeInferenceAttention());
  out.Set("splitForwards", Napi::Number::New(env, static_cast<double>(SmallForwardScope::Opened())));
  const auto names = RegisteredModels();
  auto archs = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) archs.Set(static_cast<uint32_t>(i), names[i]);
  out.Set("architectures", archs);
  // Bytes this environment's handles report to V8 (memory.h): what the garbage collector is told they hold.
  out.Set("externalMemory", Napi::Number::New(env, static_cast<double>(GetAddonData(env).memory->reported())));
  return out;
}

Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::cuda::is_available());
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const c10::Device device = ParseDevice(env, info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cuda");
  Guard(env, "cuda.synchronize", [&] {
    torch::cuda::synchronize(device.has_index() ? device.index() : -1);
  });
  return env.Undefined();
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  torch::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const int threads = info[0].As<Napi::Number>().Int32Value();
  at::set_num_threads(threads);
  SetComputeThreadCount(threads);  // forwards run there (compute_thread.h)
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value SetAllowTF32(const Napi::CallbackInfo& info) {
  const bool on = info[0].ToBoolean();
  at::globalContext().setAllowTF32CuBLAS(on);
  at::globalContext().setAllowTF32CuDNN(on);
  return info.Env().Undefined();
}

Napi::Value GetAllowTF32(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::globalContext().allowTF32CuBLAS());
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object exports) {
  // Parity first: TF32 off unless the user turns it on (lib/device.ts documents it).
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  ExportFunction<RuntimeInfo>(env, exports, "runtimeInfo");
  ExportFunction<CudaIsAvailable>(env, exports, "cudaIsAvailable");
  ExportFunction<CudaDeviceCount>(env, exports, "cudaDeviceCount");
  ExportFunction<CudaSynchronize>(env, exports, "cudaSynchronize");
  ExportFunction<ManualSeed>(env, exports, "manualSeed");
  ExportFunction<SetNumThreads>(env, exports, "setNumThreads");
  ExportFunction<GetNumThreads>(env, exports, "getNumThreads");
  ExportFunction<SetAllowTF32>(env, exports, "setAllowTF32");
  ExportFunction<GetAllowTF32>(env, exports, "getAllowTF32");
}

}  // namespace et
