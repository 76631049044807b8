#include "workers.h"

#include <torch/script.h>
#include <torch/version.h>

#include <stdexcept>

#include "autocast.h"
#include "compute_jobs.h"
#include "compute_thread.h"
#include "tensor.h"
#include "trace.h"

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

void PromiseWorker::OnWorkComplete(Napi::Env env, napi_status status) {
  try {
    Napi::AsyncWorker::OnWorkComplete(env, status);  // OnOK/OnError, then Destroy()
  } catch (const Napi::Error&) {
    // Thrown only where JS can no longer run (napi_throw failed: the environment is going away);
    // node-addon-api threw it before Destroy(), so the worker is freed here.
    Destroy();
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  ResolveWith(deferred_, env, operation_, [&] { return Result(env); });
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

// One module.forward(inputs) call, whichever thread runs it: grad and autocast modes are set on
// that thread (they are thread-local: never inherited), and its references keep the inputs alive
// if JS disposes them meanwhile.
struct ForwardCall {
  std::vector<at::Tensor> inputs;
  bool grad;
  c10::optional<c10::ScalarType> autocast;
  c10::IValue output;

  void Run(ModuleHandle& module) {
    torch::AutoGradMode grad_mode(grad);
    AutocastGuard autocast_guard(autocast, module.device().type());
    output = module.forward(inputs);
    inputs.clear();
  }
};

// A forward that records a graph (it must be recorded on the compute thread) or runs on the CPU
// (CPU forwards share the compute thread's one OpenMP team): handed straight to that thread.
class ForwardJob final : public ComputeJob {
 public:
  ForwardJob(Napi::Env env, std::shared_ptr<ModuleHandle> module, ForwardCall call)
      : ComputeJob(env, "forward", std::move(module)), call_(std::move(call)) {}

 private:
  void Run() override { call_.Run(*module_); }
  Napi::Value Result(Napi::Env env) override { return IValueToJs(env, call_.output); }
  ForwardCall call_;
};

// A CUDA forward without grad: on a libuv pool thread (it only queues kernels).
class ForwardWorker final : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<ModuleHandle> module, ForwardCall call)
      : PromiseWorker(env, "forward", std::move(module)), call_(std::move(call)) {}

 private:
  void Run() override { call_.Run(*module_); }
  Napi::Value Result(Napi::Env env) override { return IValueToJs(env, call_.output); }
  ForwardCall call_;
};

class LoadTorchScriptWorker final : public PromiseWorker {
 public:
  LoadTorchScriptWorker(Napi::Env env, std::string path, c10::Device device)
      : PromiseWorker(env, "loadTorchScript(\"" + path + "\")"), path_(std::move(path)), device_(device) {}

 private:
  void Run() override {
    try {
      loaded_ = std::make_shared<ScriptModuleHandle>(torch::jit::load(path_, device_));
    } catch (const c10::Error& e) {  // not a zip archive, truncated, missing records
      RethrowMissingOperator(e.what_without_backtrace());
      RethrowAsCheckpoint(e.what_without_backtrace());
    } catch (const std::exception& e) {  // torch::jit::ErrorReport: the file's code does not compile here
      RethrowMissingOperator(e.what());
      RethrowAsCheckpoint(e.what());
    }
    loaded_->train(false);
  }

  // Any other failure to load is the file's: a CheckpointError naming it (the operation names the path).
  [[noreturn]] static void RethrowAsCheckpoint(std::string msg) {
    const auto raised = msg.find("\nException raised from");
    if (raised != std::string::npos) msg.resize(raised);
    throw std::runtime_error("[ERR_CHECKPOINT] not a loadable TorchScript file (expected one saved by torch.jit.save or "
                             "torch::jit::Module::save): " + msg);
  }

  // A file saved by a newer PyTorch may call operators this libtorch lacks
  // (aten::scaled_dot_product_attention arrived in 2.0). libtorch reports it
  // as a compile error deep in the file's code; say what it means instead.
  static void RethrowMissingOperator(const std::string& msg) {
    const std::string marker = "Unknown builtin op: ";
    const auto at = msg.find(marker);
    if (at == std::string::npos) return;
    auto end = msg.find_first_of(" \n", at + marker.size());
    std::string op = msg.substr(at + marker.size(), end == std::string::npos ? std::string::npos : end - at - marker.size());
    while (!op.empty() && op.back() == '.') op.pop_back();
    throw std::runtime_error(std::string("[ERR_UNSUPPORTED] the file uses operator ") + op + ", which this libtorch (" +
                             TORCH_VERSION + ") does not have: it was saved by a newer PyTorch. Re-export it with "
                             "PyTorch " + TORCH_VERSION + " (for transformers models, attn_implementation=\"eager\" "
                             "avoids aten::scaled_dot_product_attention), or build the addon against a libtorch "
                             "that has this operator");
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
                           bool grad, c10::optional<c10::ScalarType> autocast) {
  // The device as it is now: to() is refused while a forward holds the module (in_flight).
  ForwardCall call{std::move(inputs), grad, autocast, {}};
  if (grad || module->device().is_cpu())
    return ComputeJob::Post(env, std::make_unique<ForwardJob>(env, std::move(module), std::move(call)));
  return (new ForwardWorker(env, std::move(module), std::move(call)))->Queue();
}

Napi::Promise QueueLoadTorchScript(Napi::Env env, std::string path, c10::Device device) {
  return (new LoadTorchScriptWorker(env, std::move(path), device))->Queue();
}

Napi::Promise QueueTrace(Napi::Env env, std::shared_ptr<ModuleHandle> module, std::vector<std::string> names,
                         std::vector<at::Tensor> inputs, std::string file) {
  const std::string operation = "trace(" + module->kind() + " -> \"" + file + "\")";
  return QueueTensorTask(env, operation, module, [module, names = std::move(names), inputs = std::move(inputs), file]() {
    SaveTorchScript(*module, names, inputs, file);
    return at::Tensor();
  });
}

Napi::Promise QueueTensorTask(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module,
                              std::function<at::Tensor()> body) {
  return (new TensorTaskWorker(env, std::move(operation), std::move(module), std::move(body)))->Queue();
}

}  // namespace et
