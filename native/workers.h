// AsyncWorkers: tensor work that runs off the JS thread and settles a Promise.
// Each worker copies what it needs from JS on the JS thread (constructor),
// touches only tensors in Execute(), and builds JS values in OnOK().
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "module.h"

namespace et {

// Base for every worker here: Promise plumbing, libtorch exceptions -> SetError
// with a code, and the module's in-flight count held from construction to settlement.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module = nullptr);
  ~PromiseWorker() override;
  Napi::Promise Queue();  // queues and returns the Promise

 protected:
  virtual void Run() = 0;                             // worker thread: tensors only
  virtual Napi::Value Result(Napi::Env env) = 0;      // JS thread
  std::shared_ptr<ModuleHandle> module_;

 private:
  void Execute() final;
  // Settles the Promise; when the environment is being torn down (worker.terminate(), process exit)
  // with this work in flight, the Promise can no longer settle and the failure to do so is dropped.
  void OnWorkComplete(Napi::Env env, napi_status status) final;
  void OnOK() final;
  void OnError(const Napi::Error& error) final;
  std::string operation_;
  NativeFailure failure_;
  Napi::Promise::Deferred deferred_;
};

// Converts forward's output (tensor, tuple/list of tensors, dict of tensors) to JS.
Napi::Value IValueToJs(Napi::Env env, const c10::IValue& value);

// [async] module.forward(inputs, grad, autocast): inputs ordered as module->input_names();
// autocast: float16/bfloat16 mixed precision, or none. CPU forwards and forwards with grad run
// on the compute thread, handed there directly (compute_jobs.h); CUDA forwards without grad on
// a libuv pool thread (an AsyncWorker).
Napi::Promise QueueForward(Napi::Env env, std::shared_ptr<ModuleHandle> module, std::vector<at::Tensor> inputs,
                           bool grad, c10::optional<c10::ScalarType> autocast = c10::nullopt);

// [async] torch::jit::load(path, device) -> NativeModule.
Napi::Promise QueueLoadTorchScript(Napi::Env env, std::string path, c10::Device device);

// [async] module.trace(names, inputs, file): native models traced, TorchScript saved as is (trace.h).
Napi::Promise QueueTrace(Napi::Env env, std::shared_ptr<ModuleHandle> module, std::vector<std::string> names,
                         std::vector<at::Tensor> inputs, std::string file);

// [async] generic: runs `body` on the worker thread, resolves with a tensor (or undefined).
Napi::Promise QueueTensorTask(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module,
                              std::function<at::Tensor()> body);

}  // namespace et
