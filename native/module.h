// Module handles: one native wrapper (ModuleWrap, JS class NativeModule) over
// both TorchScript modules (torch::jit::Module) and this project's own C++
// modules (NativeModel, an nn::Module). The wrapper owns the module through a
// shared_ptr so an in-flight forward keeps it alive after dispose().
//
// [sync]  createModule(architecture, options) -> NativeModule   (models/registry.h)
// [async] loadTorchScript(path, device) -> Promise<NativeModule> (workers.h)
// [sync]  m.kind, m.inputNames, m.device, m.isTraining, m.inFlight, m.isDisposed
// [sync]  m.namedParameters() -> {name, shape, dtype, requiresGrad}[]
// [sync]  m.setRequiresGrad(names: string[], flag) -> number changed; throws on unknown names
// [sync]  m.train(flag), m.to(device|null, dtype|null)      throw ERR_BUSY while a call is in flight
// [sync]  m.stateDict() -> Record<string, Tensor>           aliases (no copy) of parameters and buffers
// [sync]  m.loadStateDict(record) -> {missing, unexpected}  copies matching tensors; throws on shapes
// [async] m.forward(Tensor[] | Record<string, Tensor>, grad, autocast: "float16"|"bfloat16"|null)
//           -> Promise<Tensor | Tensor[] | Record>
// [async] m.trace(names, inputs: Tensor[], file) -> Promise<undefined>   TorchScript file (trace.h)
// [sync]  m.dispose()                                        throws ERR_BUSY while a call is in flight
#pragma once
#include <napi.h>

#include "binding.h"
#include "memory.h"
#include <torch/script.h>
#include <torch/torch.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace et {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// This project's C++ models implement this on top of torch::nn::Module.
struct NativeModel : torch::nn::Module {
  // Names of forward's inputs, in positional order (e.g. input_ids, attention_mask).
  virtual std::vector<std::string> input_names() const = 0;
  // forward over inputs in input_names() order; an optional input may be undefined.
  virtual c10::IValue forward_inputs(const std::vector<at::Tensor>& inputs) = 0;
};

// What every module handle can do, TorchScript or native.
class ModuleHandle {
 public:
  virtual ~ModuleHandle() = default;
  virtual std::string kind() const = 0;
  virtual std::vector<std::string> input_names() const = 0;
  virtual NamedTensors named_parameters() const = 0;
  virtual NamedTensors named_buffers() const = 0;
  virtual void train(bool on) = 0;
  virtual bool is_training() const = 0;
  virtual void to(c10::Device device, c10::optional<c10::ScalarType> dtype) = 0;
  // Positional inputs, already ordered as input_names() (undefined = not given).
  virtual c10::IValue forward(const std::vector<at::Tensor>& inputs) = 0;

  // The first parameter's (or buffer's) device, CPU for a module without
  // tensors. Read on every forward, so noted at construction and by every to()
  // instead of walked each time (~0.2 ms of names for MiniLM).
  c10::Device device() const { return device_.load(); }
  std::atomic<int> in_flight{0};  // forwards, steps, traces holding this module
  std::atomic<int> stepping{0};   // optimizer steps and clips changing its parameters: forwards are refused meanwhile

 protected:
  void NoteDevice();  // at the end of each constructor and to()

 private:
  std::atomic<c10::Device> device_{c10::Device(c10::kCPU)};
};

class NativeModuleHandle final : public ModuleHandle {
 public:
  NativeModuleHandle(std::string architecture, std::shared_ptr<NativeModel> model);
  std::string kind() const override { return architecture_; }
  std::vector<std::string> input_names() const override { return model_->input_names(); }
  NamedTensors named_parameters() const override;
  NamedTensors named_buffers() const override;
  void train(bool on) override { model_->train(on); }
  bool is_training() const override { return model_->is_training(); }
  void to(c10::Device device, c10::optional<c10::ScalarType> dtype) override;
  c10::IValue forward(const std::vector<at::Tensor>& inputs) override { return model_->forward_inputs(inputs); }
  const std::shared_ptr<NativeModel>& model() const { return model_; }

 private:
  std::string architecture_;
  std::shared_ptr<NativeModel> model_;
};

class ScriptModuleHandle final : public ModuleHandle {
 public:
  explicit ScriptModuleHandle(torch::jit::Module module);
  std::string kind() const override { return "torchscript"; }
  std::vector<std::string> input_names() const override;
  NamedTensors named_parameters() const override;
  NamedTensors named_buffers() const override;
  void train(bool on) override { module_.train(on); }
  bool is_training() const override { return module_.is_training(); }
  void to(c10::Device device, c10::optional<c10::ScalarType> dtype) override;
  c10::IValue forward(const std::vector<at::Tensor>& inputs) override;
  torch::jit::Module& module() { return module_; }

 private:
  torch::jit::Module module_;
};

class ModuleWrap : public GuardedWrap<ModuleWrap> {
 public:
  static constexpr const char* kJsName = "NativeModule";
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, std::shared_ptr<ModuleHandle> handle);
  // The handle behind a JS NativeModule; throws naming `what` when it is not one or was disposed.
  static std::shared_ptr<ModuleHandle> FromValue(const Napi::Value& value, const std::string& what);

  explicit ModuleWrap(const Napi::CallbackInfo& info);

 private:
  static Napi::Value CreateModule(const Napi::CallbackInfo& info);
  static Napi::Value LoadTorchScript(const Napi::CallbackInfo& info);
  Napi::Value Kind(const Napi::CallbackInfo& info);
  Napi::Value InputNames(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value IsTraining(const Napi::CallbackInfo& info);
  Napi::Value InFlight(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value NamedParameters(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Train(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value StateDict(const Napi::CallbackInfo& info);
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ExpectForward(const Napi::CallbackInfo& info);
  Napi::Value Trace(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  ModuleHandle& Checked(Napi::Env env, const char* method) const;
  void CheckIdle(Napi::Env env, const char* method) const;
  // Reports the parameters' and buffers' storages (again after to(), which moves them).
  void Account(Napi::Env env);

  std::shared_ptr<ModuleHandle> handle_;
  AccountedStorages accounted_;
};

}  // namespace et
