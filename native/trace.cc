#include "trace.h"

#include <c10/util/StringUtil.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>


namespace et {

namespace {

// "et::BertLayerImpl" -> "BertLayer", "torch::nn::LinearImpl" -> "Linear": the
// class name TorchScript prints for this module (Python prints its class name).
std::string ClassName(const torch::nn::Module& module) {
  std::string name = module.name();
  const auto colon = name.rfind("::");
  if (colon != std::string::npos) name = name.substr(colon + 2);
  const std::string impl = "Impl";
  if (name.size() > impl.size() && name.compare(name.size() - impl.size(), impl.size(), impl) == 0)
    name.resize(name.size() - impl.size());
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "Module" + name;
  return name;
}

c10::IValue ForwardNative(NativeModel& model, const std::vector<size_t>& positions, const torch::jit::Stack& given) {
  std::vector<at::Tensor> full(model.input_names().size());
  for (size_t i = 0; i < given.size(); ++i) full[positions[i]] = given[i].toTensor();
  return model.forward_inputs(full);
}

}  // namespace

torch::jit::Module MirrorModule(torch::nn::Module& model, const std::shared_ptr<torch::jit::CompilationUnit>& unit) {
  // shouldMangle: every instance gets its own class (two Linear layers of
  // different sizes cannot share one TorchScript type's attribute list).
  torch::jit::Module mirror(c10::QualifiedName("__torch__.embeddings_torch." + ClassName(model)), unit,
                            /*shouldMangle=*/true);
  // nn.Module's flag: TorchScript's Module::train() and Python expect it on every module.
  mirror.register_attribute("training", c10::BoolType::get(), model.is_training());
  for (const auto& p : model.named_parameters(/*recurse=*/false)) mirror.register_parameter(p.key(), p.value(), false);
  for (const auto& b : model.named_buffers(/*recurse=*/false)) mirror.register_buffer(b.key(), b.value());
  for (const auto& child : model.named_children()) mirror.register_module(child.key(), MirrorModule(*child.value(), unit));
  return mirror;
}

torch::jit::Module TraceNativeModel(NativeModel& model, const std::vector<std::string>& names,
                                    const std::vector<at::Tensor>& inputs) {
  TORCH_CHECK(names.size() == inputs.size(), "trace: ", names.size(), " names for ", inputs.size(), " inputs");
  const auto all = model.input_names();
  std::vector<size_t> positions;
  for (const auto& name : names) {
    const auto it = std::find(all.begin(), all.end(), name);
    TORCH_CHECK(it != all.end(), "trace: the model has no input \"", name, "\"; it takes ", c10::Join(", ", all));
    positions.push_back(static_cast<size_t>(it - all.begin()));
  }
  TORCH_CHECK(std::is_sorted(positions.begin(), positions.end()), "trace: inputs must follow the model's order (",
              c10::Join(", ", all), ")");

  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module self = MirrorModule(model, unit);
  torch::jit::Stack stack(inputs.begin(), inputs.end());
  // Inference export: no autograd graph is recorded alongside the trace.
  torch::NoGradGuard no_grad;
  // The tracer maps the mirror's parameter tensors (shared with `model`) to
  // prim::GetAttr chains on `self`; any other tensor forward touches becomes a
  // constant. Same call as Python's Module._create_method_from_trace; the
  // signature is unchanged from 1.13 to 2.x.
  auto traced = torch::jit::tracer::trace(
      std::move(stack),
      [&](torch::jit::Stack given) -> torch::jit::Stack { return {ForwardNative(model, positions, given)}; },
      [](const torch::autograd::Variable&) { return std::string(); },
      /*strict=*/false, /*force_outplace=*/false, &self, names);
  auto graph = traced.first->graph;
  auto* forward = self._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*self.type()->name(), "forward"), graph);
  self.type()->addMethod(forward);
  return self;
}

void SaveTorchScript(ModuleHandle& handle, const std::vector<std::string>& names, const std::vector<at::Tensor>& inputs,
                     const std::string& file) {
  if (auto* script = dynamic_cast<ScriptModuleHandle*>(&handle)) {
    script->module().save(file);
    return;
  }
  auto* native = dynamic_cast<NativeModuleHandle*>(&handle);
  TORCH_CHECK(native != nullptr, "cannot trace a ", handle.kind(), " module");
  TraceNativeModel(*native->model(), names, inputs).save(file);
}

}  // namespace et
