#include "autograd.h"

#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/torch.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "compute_thread.h"
#include "module.h"
#include "tensor.h"
#include "workers.h"

namespace et {

namespace {

// Leaves under a lease, with the number of leases holding each (one process-wide
// registry: a graph may span environments when tensors are shared).
std::mutex leases_mutex;
std::unordered_map<const c10::TensorImpl*, int> leased;

std::vector<const c10::TensorImpl*> GraphLeaves(const std::vector<at::Tensor>& roots) {
  std::vector<const c10::TensorImpl*> leaves;
  std::unordered_set<const torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack;
  for (const auto& root : roots) {
    if (!root.defined()) continue;
    if (const auto& fn = root.grad_fn()) stack.push_back(fn.get());
    else if (root.requires_grad()) leaves.push_back(root.unsafeGetTensorImpl());
  }
  while (!stack.empty()) {
    auto* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    if (auto* accumulate = dynamic_cast<torch::autograd::AccumulateGrad*>(node)) {
      leaves.push_back(accumulate->variable.unsafeGetTensorImpl());
      continue;
    }
    for (const auto& edge : node->next_edges())
      if (edge.function) stack.push_back(edge.function.get());
  }
  return leaves;
}

}  // namespace

BackwardLease::BackwardLease(const std::vector<at::Tensor>& roots) : leaves_(GraphLeaves(roots)) {
  std::lock_guard<std::mutex> lock(leases_mutex);
  for (const auto* leaf : leaves_) ++leased[leaf];
}

void BackwardLease::Release() {
  std::lock_guard<std::mutex> lock(leases_mutex);
  if (released_) return;
  released_ = true;
  for (const auto* leaf : leaves_) {
    auto it = leased.find(leaf);
    if (it != leased.end() && --it->second == 0) leased.erase(it);
  }
}

bool BackwardLease::Any() {
  std::lock_guard<std::mutex> lock(leases_mutex);
  return !leased.empty();
}

bool BackwardLease::Holds(const std::vector<at::Tensor>& tensors) {
  std::lock_guard<std::mutex> lock(leases_mutex);
  if (leased.empty()) return false;
  for (const auto& t : tensors)
    if (t.defined() && leased.count(t.unsafeGetTensorImpl())) return true;
  return false;
}

namespace {

std::vector<at::Tensor> ReadTensors(const Napi::Array& array, const std::string& what) {
  std::vector<at::Tensor> tensors;
  tensors.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i)
    tensors.push_back(TensorWrap::FromValue(array.Get(i), what + "[" + std::to_string(i) + "]"));
  return tensors;
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "backward: outputs must be an array of Tensors");
  auto outputs = ReadTensors(info[0].As<Napi::Array>(), "backward: outputs");
  std::vector<at::Tensor> gradients;
  if (info[1].IsArray()) {
    gradients = ReadTensors(info[1].As<Napi::Array>(), "backward: gradients");
    if (gradients.size() != outputs.size())
      throw Napi::RangeError::New(env, "backward: got " + std::to_string(gradients.size()) + " gradients for " +
                                           std::to_string(outputs.size()) + " outputs");
  }
  // The tensors are copied into the task (references), so JS may dispose its handles meanwhile.
  auto lease = std::make_shared<BackwardLease>(outputs);
  return QueueTensorTask(env, "backward", nullptr, [outputs, gradients, lease]() {
    try {
    for (size_t i = 0; i < outputs.size(); ++i) {
      TORCH_CHECK(outputs[i].requires_grad(), "backward: outputs[", i, "] has no autograd graph; run forward with ",
                  "{ grad: true } and keep some parameter trainable");
      TORCH_CHECK(gradients.empty() || gradients[i].sizes() == outputs[i].sizes(), "[ERR_SHAPE] backward: gradients[", i,
                  "] is ", gradients.empty() ? at::IntArrayRef() : gradients[i].sizes(), " but outputs[", i, "] is ",
                  outputs[i].sizes());
      TORCH_CHECK(!gradients.empty() || outputs[i].numel() == 1, "[ERR_SHAPE] backward: outputs[", i, "] is ",
                  outputs[i].sizes(), ", not a scalar; pass gradients for non-scalar outputs");
    }
    std::vector<at::Tensor> detached;  // the gradients are constants, not part of the graph
    for (const auto& g : gradients) detached.push_back(g.detach());
    // On the compute thread, like every recorded forward (compute_thread.h).
    RunOnComputeThread([&] { torch::autograd::backward(outputs, detached); });
    } catch (...) {
      lease->Release();  // before the Promise settles
      throw;
    }
    lease->Release();
    return at::Tensor();
  });
}

Napi::Value NamedGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto module = ModuleWrap::FromValue(info[0], "namedGradients: module");
  auto out = Napi::Object::New(env);
  for (const auto& p : module->named_parameters()) {
    const auto& grad = p.second.grad();
    out.Set(p.first, grad.defined() ? TensorWrap::New(env, grad) : env.Null());
  }
  return out;
}

}  // namespace

void InitAutograd(Napi::Env env, Napi::Object exports) {
  ExportFunction<Backward>(env, exports, "backwardOutputs");
  ExportFunction<NamedGradients>(env, exports, "namedGradients");
}

}  // namespace et
