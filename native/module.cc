#include "module.h"

#include "autograd.h"

#include <c10/util/StringUtil.h>

#include <initializer_list>
#include <set>

#include "addon_data.h"
#include "compute_thread.h"
#include "errors.h"
#include "models/registry.h"
#include "tensor.h"
#include "workers.h"

namespace et {

namespace {

NamedTensors ToVector(const torch::OrderedDict<std::string, at::Tensor>& dict) {
  NamedTensors out;
  out.reserve(dict.size());
  for (const auto& item : dict) out.emplace_back(item.key(), item.value());
  return out;
}

template <typename List>
NamedTensors FromScriptList(const List& list) {
  NamedTensors out;
  for (const auto& item : list) out.emplace_back(item.name, item.value);
  return out;
}

// A dtype applies to floating-point parameters and buffers only, as nn.Module.to(dtype) in
// PyTorch: integer buffers (the position_ids / token_type_ids of traced Hugging Face models)
// keep theirs. libtorch's Module::to(device, dtype) would cast them too, and the traced
// forward then fails on a float64 index.
void CastFloating(std::initializer_list<NamedTensors> groups, c10::ScalarType dtype) {
  at::NoGradGuard no_grad;
  for (const auto& group : groups)
    for (const auto& entry : group)
      if (entry.second.is_floating_point() && entry.second.scalar_type() != dtype) entry.second.set_data(entry.second.to(dtype));
}

std::string Dims(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

ModelOptions ReadOptions(const Napi::Object& object) {
  ModelOptions options;
  const auto keys = object.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).As<Napi::String>();
    const Napi::Value value = object.Get(key);
    if (value.IsNumber()) options.set(key, value.As<Napi::Number>().DoubleValue());
    else if (value.IsString()) options.set(key, value.As<Napi::String>().Utf8Value());
    else if (value.IsBoolean()) options.set(key, value.As<Napi::Boolean>().Value());
    // null / arrays / objects: not model options (config.json carries many such keys)
  }
  return options;
}

}  // namespace

void ModuleHandle::NoteDevice() {
  for (const auto& p : named_parameters()) return device_.store(p.second.device());
  for (const auto& b : named_buffers()) return device_.store(b.second.device());
  device_.store(c10::Device(c10::kCPU));
}

NativeModuleHandle::NativeModuleHandle(std::string architecture, std::shared_ptr<NativeModel> model)
    : architecture_(std::move(architecture)), model_(std::move(model)) {
  NoteDevice();
}

NamedTensors NativeModuleHandle::named_parameters() const { return ToVector(model_->named_parameters(true)); }
NamedTensors NativeModuleHandle::named_buffers() const { return ToVector(model_->named_buffers(true)); }

void NativeModuleHandle::to(c10::Device device, c10::optional<c10::ScalarType> dtype) {
  model_->to(device);
  if (dtype) CastFloating({named_parameters(), named_buffers()}, *dtype);
  NoteDevice();
}

ScriptModuleHandle::ScriptModuleHandle(torch::jit::Module module) : module_(std::move(module)) { NoteDevice(); }

std::vector<std::string> ScriptModuleHandle::input_names() const {
  const auto& schema = module_.get_method("forward").function().getSchema();
  std::vector<std::string> names;
  for (size_t i = 1; i < schema.arguments().size(); ++i) names.push_back(schema.arguments()[i].name());  // 0: self
  return names;
}

NamedTensors ScriptModuleHandle::named_parameters() const { return FromScriptList(module_.named_parameters(true)); }
NamedTensors ScriptModuleHandle::named_buffers() const { return FromScriptList(module_.named_buffers(true)); }

void ScriptModuleHandle::to(c10::Device device, c10::optional<c10::ScalarType> dtype) {
  module_.to(device);
  if (dtype) CastFloating({named_parameters(), named_buffers()}, *dtype);
  NoteDevice();
}

c10::IValue ScriptModuleHandle::forward(const std::vector<at::Tensor>& inputs) {
  std::vector<c10::IValue> args;
  args.reserve(inputs.size());
  // Trailing inputs that were not given are left to the schema's defaults.
  size_t given = inputs.size();
  while (given > 0 && !inputs[given - 1].defined()) --given;
  for (size_t i = 0; i < given; ++i) {
    if (inputs[i].defined()) args.emplace_back(inputs[i]);
    else args.emplace_back();  // None
  }
  return module_.forward(args);
}

void ModuleWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "NativeModule",
      {
          GuardedStatic<&ModuleWrap::CreateModule>("create"),
          GuardedStatic<&ModuleWrap::LoadTorchScript>("loadTorchScript"),
          GuardedAccessor<&ModuleWrap::Kind>("kind"),
          GuardedAccessor<&ModuleWrap::InputNames>("inputNames"),
          GuardedAccessor<&ModuleWrap::Device>("device"),
          GuardedAccessor<&ModuleWrap::IsTraining>("isTraining"),
          GuardedAccessor<&ModuleWrap::InFlight>("inFlight"),
          GuardedAccessor<&ModuleWrap::IsDisposed>("isDisposed"),
          GuardedMethod<&ModuleWrap::NamedParameters>("namedParameters"),
          GuardedMethod<&ModuleWrap::SetRequiresGrad>("setRequiresGrad"),
          GuardedMethod<&ModuleWrap::Train>("train"),
          GuardedMethod<&ModuleWrap::To>("to"),
          GuardedMethod<&ModuleWrap::StateDict>("stateDict"),
          GuardedMethod<&ModuleWrap::LoadStateDict>("loadStateDict"),
          GuardedMethod<&ModuleWrap::Forward>("forward"),
          GuardedMethod<&ModuleWrap::ExpectForward>("expectForward"),
          GuardedMethod<&ModuleWrap::Trace>("trace"),
          GuardedMethod<&ModuleWrap::Dispose>("dispose"),
      });
  GetAddonData(env).module = Napi::Persistent(ctor);
  exports.Set("NativeModule", ctor);
}

Napi::Object ModuleWrap::New(Napi::Env env, std::shared_ptr<ModuleHandle> handle) {
  Napi::Object object = GetAddonData(env).module.New({});
  auto* wrap = ObjectWrap<ModuleWrap>::Unwrap(object);
  wrap->handle_ = std::move(handle);
  wrap->Account(env);
  return object;
}

void ModuleWrap::Account(Napi::Env env) {
  std::vector<at::Tensor> tensors;
  for (const auto& p : handle_->named_parameters()) tensors.push_back(p.second);
  for (const auto& b : handle_->named_buffers()) tensors.push_back(b.second);
  accounted_.Set(env, GetAddonData(env).memory, tensors);
}

std::shared_ptr<ModuleHandle> ModuleWrap::FromValue(const Napi::Value& value, const std::string& what) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(GetAddonData(env).module.Value()))
    throw Napi::TypeError::New(env, what + " must be a NativeModule");
  auto* wrap = ObjectWrap<ModuleWrap>::Unwrap(value.As<Napi::Object>());
  if (!wrap->handle_) Throw(env, what + " is a disposed module", kErrDisposed);
  return wrap->handle_;
}

ModuleWrap::ModuleWrap(const Napi::CallbackInfo& info) : GuardedWrap<ModuleWrap>(info) {}

ModuleHandle& ModuleWrap::Checked(Napi::Env env, const char* method) const {
  if (!handle_) Throw(env, std::string("NativeModule.") + method + ": the module was disposed", kErrDisposed);
  return *handle_;
}

void ModuleWrap::CheckIdle(Napi::Env env, const char* method) const {
  auto& handle = Checked(env, method);
  const int busy = handle.in_flight.load();
  if (busy > 0)
    Throw(env, std::string("NativeModule.") + method + ": " + std::to_string(busy) +
                   " call(s) on this module are still in flight; await them first",
          kErrBusy);
  if (!BackwardLease::Any()) return;
  std::vector<at::Tensor> parameters;
  for (const auto& p : handle.named_parameters()) parameters.push_back(p.second);
  if (BackwardLease::Holds(parameters))
    Throw(env, std::string("NativeModule.") + method +
                   ": a backward() writing gradients into this module's parameters is still in flight; await it first",
          kErrBusy);
}

Napi::Value ModuleWrap::CreateModule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string architecture = info[0].As<Napi::String>();
  const ModelOptions options = ReadOptions(info[1].As<Napi::Object>());
  return Guard(env, "createModule(\"" + architecture + "\")", [&] {
    auto model = CreateModel(architecture, options);
    model->eval();
    return New(env, std::make_shared<NativeModuleHandle>(architecture, std::move(model)));
  });
}

Napi::Value ModuleWrap::LoadTorchScript(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueLoadTorchScript(env, info[0].As<Napi::String>(), ParseDevice(env, info[1].As<Napi::String>()));
}

Napi::Value ModuleWrap::Kind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Checked(info.Env(), "kind").kind());
}

Napi::Value ModuleWrap::InputNames(const Napi::CallbackInfo& info) {
  const auto names = Checked(info.Env(), "inputNames").input_names();
  auto array = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) array.Set(static_cast<uint32_t>(i), names[i]);
  return array;
}

Napi::Value ModuleWrap::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DeviceName(Checked(info.Env(), "device").device()));
}

Napi::Value ModuleWrap::IsTraining(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Checked(info.Env(), "isTraining").is_training());
}

Napi::Value ModuleWrap::InFlight(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), handle_ ? handle_->in_flight.load() : 0);
}

Napi::Value ModuleWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !handle_);
}

Napi::Value ModuleWrap::NamedParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto params = Checked(env, "namedParameters").named_parameters();
  auto array = Napi::Array::New(env, params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& t = params[i].second;
    auto entry = Napi::Object::New(env);
    entry.Set("name", params[i].first);
    auto shape = Napi::Array::New(env, t.dim());
    for (int64_t d = 0; d < t.dim(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, t.size(d)));
    entry.Set("shape", shape);
    entry.Set("dtype", DTypeName(t.scalar_type()));
    entry.Set("requiresGrad", t.requires_grad());
    array.Set(static_cast<uint32_t>(i), entry);
  }
  return array;
}

Napi::Value ModuleWrap::SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& handle = Checked(env, "setRequiresGrad");
  CheckIdle(env, "setRequiresGrad");
  auto names_array = info[0].As<Napi::Array>();
  const bool flag = info[1].ToBoolean();
  std::set<std::string> wanted;
  for (uint32_t i = 0; i < names_array.Length(); ++i) wanted.insert(names_array.Get(i).As<Napi::String>());
  int changed = 0;
  for (auto& p : handle.named_parameters()) {
    if (wanted.erase(p.first) == 0) continue;
    if (p.second.requires_grad() != flag) ++changed;
    p.second.set_requires_grad(flag);
  }
  if (!wanted.empty())
    throw Napi::RangeError::New(env, "NativeModule.setRequiresGrad: no parameter named " +
                                         c10::Join(", ", std::vector<std::string>(wanted.begin(), wanted.end())));
  return Napi::Number::New(env, changed);
}

Napi::Value ModuleWrap::Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIdle(env, "train");
  handle_->train(info[0].ToBoolean());
  return env.Undefined();
}

Napi::Value ModuleWrap::To(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIdle(env, "to");
  const c10::Device device = info[0].IsString() ? ParseDevice(env, info[0].As<Napi::String>()) : handle_->device();
  c10::optional<c10::ScalarType> dtype;
  if (info[1].IsString()) dtype = ParseDType(env, info[1].As<Napi::String>());
  Guard(env, "NativeModule.to", [&] { handle_->to(device, dtype); });
  Account(env);
  return env.Undefined();
}

Napi::Value ModuleWrap::StateDict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& handle = Checked(env, "stateDict");
  auto object = Napi::Object::New(env);
  for (const auto& p : handle.named_parameters()) object.Set(p.first, TensorWrap::New(env, p.second.detach()));
  for (const auto& b : handle.named_buffers()) object.Set(b.first, TensorWrap::New(env, b.second.detach()));
  return object;
}

Napi::Value ModuleWrap::LoadStateDict(const Napi::CallbackInfo& info) {
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
  auto targets = handle.named_parameters();
  const auto buffers = handle.named_buffers();
  targets.insert(targets.end(), buffers.begin(), buffers.end());
  // Check every shape before copying anything: a failed load leaves the module as it was.
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  for (const auto& t : targets) {
    auto it = given.find(t.first);
    if (it == given.end()) missing.push_back(t.first);
    else if (it->second.sizes() != t.second.sizes())
      mismatched.push_back(t.first + ": module " + Dims(t.second.sizes()) + ", checkpoint " + Dims(it->second.sizes()));
  }
  if (!mismatched.empty())
    Throw(env, "loadStateDict: shape mismatch for " + c10::Join("; ", mismatched), kErrCheckpoint);
  Guard(env, "loadStateDict", [&] {
    torch::NoGradGuard no_grad;  // copy_ into a leaf that requires grad throws otherwise
    for (auto& t : targets) {
      auto it = given.find(t.first);
      if (it == given.end()) continue;
      t.second.copy_(it->second);
      given.erase(it);
    }
  });
  auto result = Napi::Object::New(env);
  auto missing_js = Napi::Array::New(env, missing.size());
  for (size_t i = 0; i < missing.size(); ++i) missing_js.Set(static_cast<uint32_t>(i), missing[i]);
  auto unexpected_js = Napi::Array::New(env, given.size());
  uint32_t i = 0;
  for (const auto& g : given) unexpected_js.Set(i++, g.first);
  result.Set("missing", missing_js);
  result.Set("unexpected", unexpected_js);
  return result;
}

Napi::Value ModuleWrap::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Checked(env, "forward");
  // A forward during a step would read weights half old, half new: refused, never interleaved.
  if (handle_->stepping.load() > 0)
    Throw(env, "NativeModule.forward: an optimizer step on this module is in flight; await it first", kErrBusy);
  const auto names = handle_->input_names();
  const bool grad = info[1].ToBoolean();
  const c10::Device device = handle_->device();  // where host-array inputs are copied to
  std::vector<at::Tensor> inputs;
  if (info[0].IsArray()) {
    auto array = info[0].As<Napi::Array>();
    if (!names.empty() && array.Length() > names.size())
      throw Napi::RangeError::New(env, "forward: got " + std::to_string(array.Length()) + " inputs but the module takes " +
                                           std::to_string(names.size()) + " (" + c10::Join(", ", names) + ")");
    for (uint32_t i = 0; i < array.Length(); ++i)
      inputs.push_back(TensorWrap::FromInput(array.Get(i), "forward: input " + std::to_string(i), device));
  } else {
    auto record = info[0].As<Napi::Object>();
    const auto keys = record.GetPropertyNames();
    std::set<std::string> known(names.begin(), names.end());
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).As<Napi::String>();
      if (known.count(key) == 0)
        throw Napi::RangeError::New(env, "forward: unknown input \"" + key + "\"; the module takes " +
                                             c10::Join(", ", names));
    }
    inputs.resize(names.size());
    for (size_t i = 0; i < names.size(); ++i)
      if (record.Has(names[i])) inputs[i] = TensorWrap::FromInput(record.Get(names[i]), "forward: input \"" + names[i] + "\"", device);
  }
  c10::optional<c10::ScalarType> autocast;
  if (info[2].IsString()) autocast = ParseDType(env, info[2].As<Napi::String>());
  return QueueForward(env, handle_, std::move(inputs), grad, autocast);
}

Napi::Value ModuleWrap::ExpectForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // CPU forwards without grad are posted to the compute thread (workers.cc QueueForward).
  if (handle_ && handle_->device().is_cpu()) ExpectComputeTask();  // a disposed module: nothing follows
  return env.Undefined();
}

Napi::Value ModuleWrap::Trace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Checked(env, "trace");
  auto names_js = info[0].As<Napi::Array>();
  auto inputs_js = info[1].As<Napi::Array>();
  std::vector<std::string> names;
  std::vector<at::Tensor> inputs;
  for (uint32_t i = 0; i < names_js.Length(); ++i) names.push_back(names_js.Get(i).As<Napi::String>());
  for (uint32_t i = 0; i < inputs_js.Length() && i < names.size(); ++i)
    inputs.push_back(TensorWrap::FromValue(inputs_js.Get(i), "trace: input \"" + names[i] + "\""));
  return QueueTrace(env, handle_, std::move(names), std::move(inputs), info[2].As<Napi::String>());
}

Napi::Value ModuleWrap::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!handle_) return env.Undefined();
  CheckIdle(env, "dispose");
  accounted_.Clear();
  handle_.reset();
  return env.Undefined();
}

}  // namespace et
