// JS <-> at::Tensor: the Tensor class (TypedArrays in and out, dtype, device,
// requires_grad, grad, dispose) and the dtype/device names shared by every
// other binding.
//
// [sync]  Tensor.fromBuffer(data, shape, dtype, device, requiresGrad) -> Tensor
//           data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array
//                 | Uint16Array (float16/bfloat16 bits); a Uint8Array with another
//                 dtype is that dtype's raw little-endian bytes (safetensors).
//           One copy (with dtype conversion when they differ). Throws on length mismatch.
// [sync]  t.shape / t.dtype / t.device / t.requiresGrad (get, set) / t.grad / t.isDisposed
// [sync]  t.data()            -> TypedArray of t's dtype (contiguous host copy)
// [sync]  t.toFloat32Array()  -> Float32Array (contiguous().cpu().float() copy)
// [sync]  t.to(device|null, dtype|null) -> Tensor (new handle; shares memory when nothing changes)
// [sync]  t.dispose()         idempotent; native memory is freed when no in-flight call holds it
#pragma once
#include <napi.h>

#include "binding.h"
#include "memory.h"
#include <torch/torch.h>

#include <string>

namespace et {

c10::ScalarType ParseDType(Napi::Env env, const std::string& name);
std::string DTypeName(c10::ScalarType type);
c10::Device ParseDevice(Napi::Env env, const std::string& name);  // checks CUDA presence
std::string DeviceName(const c10::Device& device);

class TensorWrap : public GuardedWrap<TensorWrap> {
 public:
  static constexpr const char* kJsName = "NativeTensor";
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, at::Tensor tensor);
  // The tensor behind a JS Tensor; throws a TypeError naming `what` when it is
  // not a Tensor, an Error when it was disposed.
  static at::Tensor FromValue(const Napi::Value& value, const std::string& what);
  // A forward input: a Tensor as FromValue, or a host array `{data: TypedArray, shape}`
  // (Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array) copied into a
  // new tensor of the array's element type on `device` (the CPU: one memcpy, no JS
  // Tensor to create and dispose). Throws a TypeError or RangeError naming `what` for
  // anything else.
  static at::Tensor FromInput(const Napi::Value& value, const std::string& what, const c10::Device& device);
  static bool IsTensor(const Napi::Value& value);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

 private:
  static Napi::Value FromBuffer(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DType(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  void SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& value);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Data(const Napi::CallbackInfo& info);
  Napi::Value ToFloat32Array(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  const at::Tensor& Checked(Napi::Env env, const char* method) const;
  void Release(Napi::Env env);

  at::Tensor tensor_;
  bool disposed_ = false;
  AccountedStorages accounted_;  // its storage, reported to V8 as external memory (memory.h)
};

}  // namespace et
