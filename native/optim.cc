#include "optim.h"

#include <c10/util/StringUtil.h>

#include <map>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "models/inference_path.h"

namespace et {

namespace {

// libtorch keys optimizer state by the parameter's TensorImpl address: as a
// string in 1.13 (c10::guts::to_string of the pointer), as the pointer itself
// in later releases. Match whichever this libtorch declares.
using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
template <typename Key = typename StateMap::key_type>
Key StateKey(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {  // a template, so the other branch is not compiled
    std::ostringstream key;  // what c10::guts::to_string does
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

std::string Dims(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

// "<group>.<param name>.<field>" -> parts; false when the key has no such shape.
bool SplitKey(const std::string& key, size_t* group, std::string* name, std::string* field) {
  const auto first = key.find('.');
  const auto last = key.rfind('.');
  if (first == std::string::npos || last == first) return false;
  const std::string index = key.substr(0, first);
  if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) return false;
  *group = static_cast<size_t>(std::stoul(index));
  *name = key.substr(first + 1, last - first - 1);
  *field = key.substr(last + 1);
  return true;
}

}  // namespace

OptimizerHandle::OptimizerHandle(std::string kind, std::unique_ptr<torch::optim::Optimizer> optimizer,
                                 std::vector<std::shared_ptr<ModuleHandle>> modules)
    : kind_(std::move(kind)), optimizer_(std::move(optimizer)), modules_(std::move(modules)) {}

size_t OptimizerHandle::refresh() {
  size_t count = 0;
  auto& groups = optimizer_->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<at::Tensor> trainable;
    for (const auto& p : modules_[g]->named_parameters())
      if (p.second.requires_grad()) trainable.push_back(p.second);
    count += trainable.size();
    groups[g].params() = std::move(trainable);
  }
  return count;
}

void OptimizerHandle::zero_grad() {
  // Set to none rather than zeroed: AdamW decays and SGD's momentum moves every
  // parameter whose grad is defined, even a zero one. Frozen parameters are
  // included so a grad left from before freezing cannot linger.
  for (const auto& module : modules_)
    for (auto& p : module->named_parameters())
      if (p.second.grad().defined()) p.second.mutable_grad().reset();
}

double OptimizerHandle::clip_grad_norm(double max_norm, double norm_type) {
  refresh();
  std::vector<at::Tensor> params;
  for (const auto& group : optimizer_->param_groups())
    params.insert(params.end(), group.params().begin(), group.params().end());
  return torch::nn::utils::clip_grad_norm_(params, max_norm, norm_type);
}

size_t OptimizerHandle::step() {
  refresh();
  size_t with_grad = 0;
  for (const auto& group : optimizer_->param_groups())
    for (const auto& p : group.params())
      if (p.grad().defined()) ++with_grad;
  optimizer_->step();  // skips parameters whose grad is undefined
  NoteParametersWritten();  // through p.data(): the parameters' version counters do not see it
  return with_grad;
}

NamedTensors OptimizerHandle::gradients() const {
  NamedTensors out;
  for (size_t g = 0; g < modules_.size(); ++g)
    for (const auto& p : modules_[g]->named_parameters())
      if (p.second.grad().defined()) out.emplace_back(std::to_string(g) + "." + p.first, p.second.grad().detach());
  return out;
}

NamedTensors OptimizerHandle::state_tensors() {
  NamedTensors out;
  auto& state = optimizer_->state();
  for (size_t g = 0; g < modules_.size(); ++g) {
    // Every parameter of the module, frozen ones too: their state is kept for when they thaw.
    for (const auto& p : modules_[g]->named_parameters()) {
      auto it = state.find(StateKey(p.second));
      if (it == state.end()) continue;
      const std::string prefix = std::to_string(g) + "." + p.first + ".";
      if (kind_ == "adamw") {
        auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
        out.emplace_back(prefix + "step", torch::tensor(s.step(), torch::kLong));
        out.emplace_back(prefix + "exp_avg", s.exp_avg().detach());
        out.emplace_back(prefix + "exp_avg_sq", s.exp_avg_sq().detach());
        if (s.max_exp_avg_sq().defined()) out.emplace_back(prefix + "max_exp_avg_sq", s.max_exp_avg_sq().detach());
      } else {
        auto& s = static_cast<torch::optim::SGDParamState&>(*it->second);
        if (s.momentum_buffer().defined()) out.emplace_back(prefix + "momentum_buffer", s.momentum_buffer().detach());
      }
    }
  }
  return out;
}

size_t OptimizerHandle::load_state_tensors(const std::map<std::string, at::Tensor>& tensors) {
  // group -> param name -> field -> tensor, checked in full before anything changes.
  std::map<size_t, std::map<std::string, std::map<std::string, at::Tensor>>> parsed;
  std::vector<std::string> problems;
  for (const auto& entry : tensors) {
    size_t group = 0;
    std::string name;
    std::string field;
    if (!SplitKey(entry.first, &group, &name, &field)) {
      problems.push_back("\"" + entry.first + "\" is not <group>.<parameter>.<field>");
    } else if (group >= modules_.size()) {
      problems.push_back("\"" + entry.first + "\": group " + std::to_string(group) + " does not exist (" +
                         std::to_string(modules_.size()) + " groups)");
    } else {
      parsed[group][name][field] = entry.second;
    }
  }
  const std::set<std::string> adamw_fields{"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  std::vector<std::pair<at::Tensor, std::unique_ptr<torch::optim::OptimizerParamState>>> restored;
  for (auto& group : parsed) {
    std::map<std::string, at::Tensor> params;
    for (const auto& p : modules_[group.first]->named_parameters()) params.emplace(p.first, p.second);
    const auto& options = optimizer_->param_groups()[group.first].options();
    for (auto& param : group.second) {
      const std::string where = std::to_string(group.first) + "." + param.first;
      auto target = params.find(param.first);
      if (target == params.end()) {
        problems.push_back(where + ": the module has no such parameter");
        continue;
      }
      auto& fields = param.second;
      for (const auto& f : fields) {
        const bool known = kind_ == "adamw" ? adamw_fields.count(f.first) > 0 : f.first == "momentum_buffer";
        if (!known) problems.push_back(where + ": unknown " + kind_ + " state field \"" + f.first + "\"");
        else if (f.first == "max_exp_avg_sq" && !static_cast<const torch::optim::AdamWOptions&>(options).amsgrad())
          problems.push_back(where + ": the state has max_exp_avg_sq (amsgrad) but this AdamW has amsgrad off");
        else if (f.first != "step" && f.second.sizes() != target->second.sizes())
          problems.push_back(where + "." + f.first + ": parameter " + Dims(target->second.sizes()) + ", state " +
                             Dims(f.second.sizes()));
      }
      const auto like = [&](const std::string& f) { return fields.at(f).to(target->second.options()).clone(); };
      if (kind_ == "adamw") {
        const bool amsgrad = static_cast<const torch::optim::AdamWOptions&>(options).amsgrad();
        std::vector<std::string> wanted{"step", "exp_avg", "exp_avg_sq"};
        if (amsgrad) wanted.push_back("max_exp_avg_sq");
        bool complete = true;
        for (const auto& f : wanted)
          if (fields.count(f) == 0) {
            problems.push_back(where + ": missing state field \"" + f + "\"");
            complete = false;
          }
        if (!complete || !problems.empty()) continue;
        TORCH_CHECK(fields.at("step").numel() == 1, "[ERR_CHECKPOINT] ", where, ".step must hold one integer");
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(fields.at("step").to(torch::kLong).item<int64_t>());
        s->exp_avg(like("exp_avg"));
        s->exp_avg_sq(like("exp_avg_sq"));
        if (amsgrad) s->max_exp_avg_sq(like("max_exp_avg_sq"));
        restored.emplace_back(target->second, std::move(s));
      } else {
        if (fields.count("momentum_buffer") == 0 || !problems.empty()) continue;
        auto s = std::make_unique<torch::optim::SGDParamState>();
        s->momentum_buffer(like("momentum_buffer"));
        restored.emplace_back(target->second, std::move(s));
      }
    }
  }
  TORCH_CHECK(problems.empty(), "[ERR_CHECKPOINT] optimizer state does not fit this ", kind_, " optimizer: ",
              c10::Join("; ", problems));
  auto& state = optimizer_->state();
  state.clear();  // like PyTorch's load_state_dict: the file's state replaces all of it
  for (auto& r : restored) state[StateKey(r.first)] = std::move(r.second);
  return restored.size();
}

}  // namespace et
