// The JS side of optim.h: NativeOptimizer, its async step/clip workers, backward().
#include <c10/util/StringUtil.h>

#include <set>

#include "addon_data.h"
#include "autograd.h"
#include "errors.h"
#include "compute_thread.h"
#include "optim.h"
#include "tensor.h"
#include "workers.h"

namespace et {

namespace {

// Reports the optimizer state's storages to V8 (JS thread).
void AccountState(Napi::Env env, OptimizerHandle& optimizer) {
  std::vector<at::Tensor> tensors;
  const std::string scalar = ".step";  // made on the fly, not state memory
  for (const auto& entry : optimizer.state_tensors()) {
    const auto& name = entry.first;
    if (name.size() < scalar.size() || name.compare(name.size() - scalar.size(), scalar.size(), scalar) != 0)
      tensors.push_back(entry.second);
  }
  optimizer.accounted.Set(env, GetAddonData(env).memory, tensors);
}

// Holds the optimizer and every module it updates as in flight from queueing
// to settlement, so dispose()/to()/train() on them throw instead of racing a step.
class OptimizerWorker : public PromiseWorker {
 public:
  OptimizerWorker(Napi::Env env, std::string operation, const std::shared_ptr<OptimizerHandle>& optimizer)
      : PromiseWorker(env, std::move(operation)), optimizer_(optimizer) {
    optimizer_->in_flight++;
    for (const auto& m : optimizer_->modules()) {
      m->in_flight++;
      m->stepping++;
    }
  }
  ~OptimizerWorker() override {
    for (const auto& m : optimizer_->modules()) {
      m->stepping--;
      m->in_flight--;
    }
    optimizer_->in_flight--;
  }

 protected:
  std::shared_ptr<OptimizerHandle> optimizer_;
};

class StepWorker final : public OptimizerWorker {
 public:
  StepWorker(Napi::Env env, const std::shared_ptr<OptimizerHandle>& optimizer, double max_norm, double norm_type)
      : OptimizerWorker(env, optimizer->kind() + ".step", optimizer), max_norm_(max_norm), norm_type_(norm_type) {}

 private:
  void Run() override {
    if (max_norm_ > 0) grad_norm_ = optimizer_->clip_grad_norm(max_norm_, norm_type_);
    stepped_ = optimizer_->step();
  }
  Napi::Value Result(Napi::Env env) override {
    AccountState(env, *optimizer_);
    auto result = Napi::Object::New(env);
    result.Set("gradNorm", max_norm_ > 0 ? Napi::Value(Napi::Number::New(env, grad_norm_)) : env.Null());
    result.Set("stepped", Napi::Number::New(env, static_cast<double>(stepped_)));
    return result;
  }
  double max_norm_;
  double norm_type_;
  double grad_norm_ = 0;
  size_t stepped_ = 0;
};

class ClipWorker final : public OptimizerWorker {
 public:
  ClipWorker(Napi::Env env, const std::shared_ptr<OptimizerHandle>& optimizer, double max_norm, double norm_type)
      : OptimizerWorker(env, "clipGradNorm", optimizer), max_norm_(max_norm), norm_type_(norm_type) {}

 private:
  void Run() override { norm_ = optimizer_->clip_grad_norm(max_norm_, norm_type_); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, norm_); }
  double max_norm_;
  double norm_type_;
  double norm_ = 0;
};

double NumberOr(const Napi::Object& object, const char* key, double fallback) {
  const Napi::Value v = object.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool BoolOr(const Napi::Object& object, const char* key, bool fallback) {
  const Napi::Value v = object.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor loss = TensorWrap::FromValue(info[0], "backward: loss");
  const double scale = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 1.0;
  if (loss.numel() != 1)
    throw Napi::RangeError::New(env, "backward: the loss must hold one element, got shape " +
                                         c10::str(loss.sizes()) + "; reduce it (mean, sum) first");
  if (!loss.requires_grad())
    Throw(env, "backward: the loss has no autograd graph; run forward with {grad: true} and check that "
               "some parameter requires grad",
          kErrTorch);
  auto lease = std::make_shared<BackwardLease>(std::vector<at::Tensor>{loss});
  return QueueTensorTask(env, "backward", nullptr, [loss, scale, lease]() {
    // On the thread that recorded the graph, so branches are summed in program order.
    try {
      RunOnComputeThread([&] { loss.backward(torch::full_like(loss, scale)); });  // = (loss * scale).backward()
    } catch (...) {
      lease->Release();  // before the Promise settles
      throw;
    }
    lease->Release();
    return at::Tensor();
  });
}

}  // namespace

void OptimizerWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeOptimizer",
                                    {
                                        GuardedStatic<&OptimizerWrap::Create>("create"),
                                        GuardedAccessor<&OptimizerWrap::Kind>("kind"),
                                        GuardedAccessor<&OptimizerWrap::GroupCount>("groupCount"),
                                        GuardedAccessor<&OptimizerWrap::TrainableCount>("trainableCount"),
                                        GuardedMethod<&OptimizerWrap::GetLr>("getLr"),
                                        GuardedMethod<&OptimizerWrap::SetLr>("setLr"),
                                        GuardedMethod<&OptimizerWrap::ZeroGrad>("zeroGrad"),
                                        GuardedMethod<&OptimizerWrap::Step>("step"),
                                        GuardedMethod<&OptimizerWrap::ClipGradNorm>("clipGradNorm"),
                                        GuardedMethod<&OptimizerWrap::Gradients>("gradients"),
                                        GuardedMethod<&OptimizerWrap::StateDict>("stateDict"),
                                        GuardedMethod<&OptimizerWrap::LoadStateDict>("loadStateDict"),
                                        GuardedMethod<&OptimizerWrap::Dispose>("dispose"),
                                    });
  exports.Set("NativeOptimizer", ctor);
}

OptimizerWrap::OptimizerWrap(const Napi::CallbackInfo& info) : GuardedWrap<OptimizerWrap>(info) {}

Napi::Value OptimizerWrap::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Called as NativeOptimizer.create(...): `this` is the class, which makes the instance.
  if (!info.This().IsFunction()) throw Napi::TypeError::New(env, "NativeOptimizer.create must be called on NativeOptimizer");
  const std::string kind = info[0].As<Napi::String>();
  auto groups_js = info[1].As<Napi::Array>();
  auto options = info[2].As<Napi::Object>();
  if (kind != "adamw" && kind != "sgd")
    throw Napi::RangeError::New(env, "NativeOptimizer.create: kind must be \"adamw\" or \"sgd\", got \"" + kind + "\"");
  std::vector<std::shared_ptr<ModuleHandle>> modules;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  const double lr = NumberOr(options, "lr", 1e-3);
  const double weight_decay = NumberOr(options, "weightDecay", kind == "adamw" ? 1e-2 : 0.0);
  for (uint32_t i = 0; i < groups_js.Length(); ++i) {
    auto group = groups_js.Get(i).As<Napi::Object>();
    auto module = ModuleWrap::FromValue(group.Get("module"), "NativeOptimizer.create: groups[" + std::to_string(i) + "].module");
    for (const auto& m : modules)
      if (m == module) throw Napi::RangeError::New(env, "NativeOptimizer.create: groups[" + std::to_string(i) +
                                                            "].module appears in an earlier group; give each module once");
    modules.push_back(module);
    std::vector<at::Tensor> trainable;
    for (const auto& p : module->named_parameters())
      if (p.second.requires_grad()) trainable.push_back(p.second);
    const double group_lr = NumberOr(group, "lr", lr);
    const double group_wd = NumberOr(group, "weightDecay", weight_decay);
    std::unique_ptr<torch::optim::OptimizerOptions> group_options;
    if (kind == "adamw") {
      auto betas = options.Get("betas");
      double b1 = 0.9, b2 = 0.999;
      if (betas.IsArray()) {
        b1 = betas.As<Napi::Array>().Get(0u).As<Napi::Number>().DoubleValue();
        b2 = betas.As<Napi::Array>().Get(1u).As<Napi::Number>().DoubleValue();
      }
      group_options = std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(group_lr)
                                                                        .betas(std::make_tuple(b1, b2))
                                                                        .eps(NumberOr(options, "eps", 1e-8))
                                                                        .weight_decay(group_wd)
                                                                        .amsgrad(BoolOr(options, "amsgrad", false)));
    } else {
      group_options = std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(group_lr)
                                                                      .momentum(NumberOr(options, "momentum", 0))
                                                                      .dampening(NumberOr(options, "dampening", 0))
                                                                      .weight_decay(group_wd)
                                                                      .nesterov(BoolOr(options, "nesterov", false)));
    }
    groups.emplace_back(std::move(trainable), std::move(group_options));
  }
  return Guard(env, "NativeOptimizer.create(\"" + kind + "\")", [&]() -> Napi::Value {
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    if (kind == "adamw") optimizer = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(lr));
    else optimizer = std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(lr));
    Napi::Object object = info.This().As<Napi::Function>().New({});
    Unwrap(object)->handle_ = std::make_shared<OptimizerHandle>(kind, std::move(optimizer), std::move(modules));
    return object;
  });
}

OptimizerHandle& OptimizerWrap::Checked(Napi::Env env, const char* method) const {
  // The optimizer shares its modules: they stay alive even when JS disposed their handles.
  if (!handle_) Throw(env, std::string("NativeOptimizer.") + method + ": the optimizer was disposed", kErrDisposed);
  return *handle_;
}

void OptimizerWrap::CheckIdle(Napi::Env env, const char* method) const {
  const int busy = Checked(env, method).in_flight.load();
  if (busy > 0)
    Throw(env, std::string("NativeOptimizer.") + method + ": a step of this optimizer is still in flight; await it first",
          kErrBusy);
}

void OptimizerWrap::CheckModulesIdle(Napi::Env env, const char* method) const {
  for (const auto& m : Checked(env, method).modules()) {
    const int busy = m->in_flight.load();
    if (busy > 0)
      Throw(env, std::string("NativeOptimizer.") + method + ": " + std::to_string(busy) + " call(s) on a module it updates (" + m->kind() +
                     ") are in flight; a step now would change the weights under them: await them first",
            kErrBusy);
  }
  CheckNoBackward(env, method);
}

void OptimizerWrap::CheckNoBackward(Napi::Env env, const char* method) const {
  const auto& modules = Checked(env, method).modules();
  if (!BackwardLease::Any()) return;
  for (const auto& m : modules) {
    std::vector<at::Tensor> parameters;
    for (const auto& p : m->named_parameters()) parameters.push_back(p.second);
    if (BackwardLease::Holds(parameters))
      Throw(env, std::string("NativeOptimizer.") + method + ": a backward() writing gradients into a module it updates (" + m->kind() +
                     ") is still in flight; await it first",
            kErrBusy);
  }
}

size_t OptimizerWrap::CheckedGroup(Napi::Env env, const Napi::Value& value, const char* method) const {
  const auto count = Checked(env, method).optimizer().param_groups().size();
  const double index = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (index < 0 || index >= static_cast<double>(count) || index != static_cast<double>(static_cast<size_t>(index)))
    throw Napi::RangeError::New(env, std::string("NativeOptimizer.") + method + ": group must be an integer in [0, " +
                                         std::to_string(count) + ")");
  return static_cast<size_t>(index);
}

Napi::Value OptimizerWrap::Kind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Checked(info.Env(), "kind").kind());
}

Napi::Value OptimizerWrap::GroupCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Checked(info.Env(), "groupCount").modules().size()));
}

Napi::Value OptimizerWrap::TrainableCount(const Napi::CallbackInfo& info) {
  auto& handle = Checked(info.Env(), "trainableCount");
  CheckIdle(info.Env(), "trainableCount");
  return Napi::Number::New(info.Env(), static_cast<double>(handle.refresh()));
}

Napi::Value OptimizerWrap::GetLr(const Napi::CallbackInfo& info) {
  const size_t g = CheckedGroup(info.Env(), info[0], "getLr");
  return Napi::Number::New(info.Env(), handle_->optimizer().param_groups()[g].options().get_lr());
}

Napi::Value OptimizerWrap::SetLr(const Napi::CallbackInfo& info) {
  const size_t g = CheckedGroup(info.Env(), info[0], "setLr");
  CheckIdle(info.Env(), "setLr");
  handle_->optimizer().param_groups()[g].options().set_lr(info[1].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

Napi::Value OptimizerWrap::ZeroGrad(const Napi::CallbackInfo& info) {
  auto& handle = Checked(info.Env(), "zeroGrad");
  CheckIdle(info.Env(), "zeroGrad");
  CheckNoBackward(info.Env(), "zeroGrad");
  Guard(info.Env(), "zeroGrad", [&] { handle.zero_grad(); });
  return info.Env().Undefined();
}

Napi::Value OptimizerWrap::Step(const Napi::CallbackInfo& info) {
  Checked(info.Env(), "step");
  CheckIdle(info.Env(), "step");
  CheckModulesIdle(info.Env(), "step");
  auto options = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
  return (new StepWorker(info.Env(), handle_, NumberOr(options, "maxGradNorm", 0), NumberOr(options, "normType", 2)))
      ->Queue();
}

Napi::Value OptimizerWrap::ClipGradNorm(const Napi::CallbackInfo& info) {
  Checked(info.Env(), "clipGradNorm");
  CheckIdle(info.Env(), "clipGradNorm");
  CheckModulesIdle(info.Env(), "clipGradNorm");
  return (new ClipWorker(info.Env(), handle_, info[0].As<Napi::Number>().DoubleValue(),
                         info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 2.0))
      ->Queue();
}

Napi::Value OptimizerWrap::Gradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& handle = Checked(env, "gradients");
  CheckIdle(env, "gradients");
  auto object = Napi::Object::New(env);
  for (auto& entry : handle.gradients()) object.Set(entry.first, TensorWrap::New(env, entry.second));
  return object;
}

Napi::Value OptimizerWrap::StateDict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& handle = Checked(env, "stateDict");
  CheckIdle(env, "stateDict");
  auto object = Napi::Object::New(env);
  Guard(env, "NativeOptimizer.stateDict", [&] {
    for (auto& entry : handle.state_tensors()) object.Set(entry.first, TensorWrap::New(env, entry.second));
  });
  return object;
}

Napi::Value OptimizerWrap::LoadStateDict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& handle = Checked(env, "loadStateDict");
  CheckIdle(env, "loadStateDict");
  auto source = info[0].As<Napi::Object>();
  std::map<std::string, at::Tensor> given;
  const auto keys = source.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).As<Napi::String>();
    given[key] = TensorWrap::FromValue(source.Get(key), "loadStateDict: \"" + key + "\"");
  }
  return Guard(env, "NativeOptimizer.loadStateDict", [&] {
    const auto restored = handle.load_state_tensors(given);
    AccountState(env, handle);
    return Napi::Number::New(env, static_cast<double>(restored));
  });
}

Napi::Value OptimizerWrap::Dispose(const Napi::CallbackInfo& info) {
  if (!handle_) return info.Env().Undefined();
  if (handle_->in_flight.load() > 0)
    Throw(info.Env(), "NativeOptimizer.dispose: a step of this optimizer is still in flight; await it first", kErrBusy);
  handle_.reset();
  return info.Env().Undefined();
}

void InitOptim(Napi::Env env, Napi::Object exports) {
  OptimizerWrap::Init(env, exports);
  ExportFunction<Backward>(env, exports, "backward");
}

}  // namespace et
