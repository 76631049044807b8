#include "workers.h"

#include <torch/script.h>

#include "grad_thread.h"
#include "tensor.h"

namespace et {

PromiseWorker::PromiseWorker(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module)
    : Napi::AsyncWorker(env, "embeddings-torch"),
      module_(std::move(module)),
      operation_(std::move(operation)),
      deferred_(Napi::Promise::Deferred::New(env)) {
  if (module_) module_->in_flight++;
}

PromiseWorker::~PromiseWorker() {
  if (module_) module_->in_flight--;
}

Napi::Promise PromiseWorker::Queue() {
  Napi::Promise promise = deferred_.Promise();
  Napi::AsyncWorker::Queue();
  return promise;
}

void PromiseWorker::Execute() {
  try {
    Run();
  } catch (const std::exception& e) {
    failure_ = Describe(e, operation_);
    SetError(failure_.message);
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (const std::exception& e) {
    deferred_.Reject(ToJsError(env, Describe(e, operation_)).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) {
  if (failure_.code.empty()) failure_ = {error.Message(), kErrTorch};
  deferred_.Reject(ToJsError(Env(), failure_).Value());
}

Napi::Value IValueToJs(Napi::Env env, const c10::IValue& value) {
  if (value.isTensor()) return TensorWrap::New(env, value.toTensor());
  if (value.isTuple() || value.isList() || value.isTensorList()) {
    const auto elements = value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
    auto array = Napi::Array::New(env, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) array.Set(static_cast<uint32_t>(i), IValueToJs(env, elements[i]));
    return array;
  }
  if (value.isGenericDict()) {
    auto object = Napi::Object::New(env);
    for (const auto& entry : value.toGenericDict()) {
      TORCH_CHECK(entry.key().isString(), "forward returned a dict with a non-string key");
      object.Set(entry.key().toStringRef(), IValueToJs(env, entry.value()));
    }
    return object;
  }
  if (value.isNone()) return env.Null();
  if (value.isDouble()) return Napi::Number::New(env, value.toDouble());
  if (value.isInt()) return Napi::Number::New(env, static_cast<double>(value.toInt()));
  TORCH_CHECK(false, "forward returned a ", value.tagKind(), "; expected tensors, tuples, lists or dicts of them");
}

namespace {

class ForwardWorker final : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<ModuleHandle> module, std::vector<at::Tensor> inputs, bool grad)
      : PromiseWorker(env, "forward", std::move(module)), inputs_(std::move(inputs)), grad_(grad) {}

 private:
  void Run() override {
    const auto body = [this] {
      // Grad mode is thread-local: set it on the thread that runs forward, never inherit it.
      torch::AutoGradMode grad_mode(grad_);
      return module_->forward(inputs_);
    };
    // A recorded graph must be recorded on the autograd thread (grad_thread.h).
    output_ = grad_ ? RunOnGradThread(body) : body();
    inputs_.clear();
  }
  Napi::Value Result(Napi::Env env) override { return IValueToJs(env, output_); }

  std::vector<at::Tensor> inputs_;  // our references keep them alive if JS disposes them
  bool grad_;
  c10::IValue output_;
};

class LoadTorchScriptWorker final : public PromiseWorker {
 public:
  LoadTorchScriptWorker(Napi::Env env, std::string path, c10::Device device)
      : PromiseWorker(env, "loadTorchScript(\"" + path + "\")"), path_(std::move(path)), device_(device) {}

 private:
  void Run() override {
    loaded_ = std::make_shared<ScriptModuleHandle>(torch::jit::load(path_, device_));
    loaded_->train(false);
  }
  Napi::Value Result(Napi::Env env) override { return ModuleWrap::New(env, std::move(loaded_)); }

  std::shared_ptr<ModuleHandle> loaded_;  // not module_: nothing is in flight on it yet
  std::string path_;
  c10::Device device_;
};

class TensorTaskWorker final : public PromiseWorker {
 public:
  TensorTaskWorker(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module,
                   std::function<at::Tensor()> body)
      : PromiseWorker(env, std::move(operation), std::move(module)), body_(std::move(body)) {}

 private:
  void Run() override { result_ = body_(); }
  Napi::Value Result(Napi::Env env) override {
    if (!result_.defined()) return env.Undefined();
    return TensorWrap::New(env, std::move(result_));
  }
  std::function<at::Tensor()> body_;
  at::Tensor result_;
};

}  // namespace

Napi::Promise QueueForward(Napi::Env env, std::shared_ptr<ModuleHandle> module, std::vector<at::Tensor> inputs,
                           bool grad) {
  return (new ForwardWorker(env, std::move(module), std::move(inputs), grad))->Queue();
}

Napi::Promise QueueLoadTorchScript(Napi::Env env, std::string path, c10::Device device) {
  return (new LoadTorchScriptWorker(env, std::move(path), device))->Queue();
}

Napi::Promise QueueTensorTask(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module,
                              std::function<at::Tensor()> body) {
  return (new TensorTaskWorker(env, std::move(operation), std::move(module), std::move(body)))->Queue();
}

}  // namespace et
