// Optimizers and autograd steps: libtorch's AdamW and SGD over the trainable
// parameters of module handles, gradient clipping, learning rates per group,
// optimizer state as named tensors (TypeScript writes them as safetensors),
// and backward() on a loss.
//
// [sync]  NativeOptimizer.create(kind, groups, options) -> NativeOptimizer
//           kind: "adamw" | "sgd"; groups: {module: NativeModule, lr?, weightDecay?}[] (one
//           group per module, modules distinct); options: adamw {lr, betas: [b1, b2], eps,
//           weightDecay, amsgrad}, sgd {lr, momentum, dampening, weightDecay, nesterov}
// [sync]  o.kind, o.groupCount, o.trainableCount (parameters with requires_grad now)
// [sync]  o.getLr(group) -> number, o.setLr(group, lr)
// [sync]  o.zeroGrad()  every parameter of the groups' modules, frozen ones too, gets an
//           undefined grad (set to none), so a step can never touch a parameter that
//           received no gradient since
// [async] o.step({maxGradNorm?, normType?}) -> Promise<{gradNorm: number | null, stepped: number}>
//           clips first when maxGradNorm is given (norm over the parameters with a grad)
// [async] o.clipGradNorm(maxNorm, normType) -> Promise<number>  the norm before clipping
// [sync]  o.gradients() -> Record<string, Tensor>  "<group>.<param>": the current grads of the
//           groups' parameters that have one (aliases; for inspection and tests)
// [sync]  o.stateDict() -> Record<string, Tensor>  "<group>.<param>.<field>": step (int64
//           scalar), exp_avg, exp_avg_sq, max_exp_avg_sq (adamw), momentum_buffer (sgd);
//           aliases, valid until the next step
// [sync]  o.loadStateDict(record) -> number of parameters restored; throws ERR_CHECKPOINT on
//           unknown groups/parameters, missing fields or shape mismatches (nothing restored then)
// [sync]  o.dispose()  throws ERR_BUSY while a step is in flight
// [async] backward(loss, gradScale) -> Promise<undefined>  loss must have one element
//
// Trainable parameters are re-collected (requires_grad) before every zeroGrad,
// clip and step, so freezing or unfreezing between steps needs no new
// optimizer; the state of a parameter is keyed by its tensor and survives
// being frozen and unfrozen.
#pragma once
#include <napi.h>

#include "binding.h"
#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "memory.h"
#include "module.h"

namespace et {

class OptimizerHandle {
 public:
  OptimizerHandle(std::string kind, std::unique_ptr<torch::optim::Optimizer> optimizer,
                  std::vector<std::shared_ptr<ModuleHandle>> modules);
  const std::string& kind() const { return kind_; }
  const std::vector<std::shared_ptr<ModuleHandle>>& modules() const { return modules_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }

  // Sets each group's parameters to its module's parameters that require grad now.
  size_t refresh();
  void zero_grad();
  // Total norm of the gradients before clipping (0 when no parameter has a grad).
  double clip_grad_norm(double max_norm, double norm_type);
  size_t step();  // the number of parameters that had a gradient

  NamedTensors gradients() const;
  NamedTensors state_tensors();
  size_t load_state_tensors(const std::map<std::string, at::Tensor>& tensors);

  std::atomic<int> in_flight{0};
  // The bytes of the state (moments, momentum buffers), reported to V8; re-set on the JS
  // thread after every step and load, released with the handle.
  AccountedStorages accounted;

 private:
  std::string kind_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<std::shared_ptr<ModuleHandle>> modules_;
};

class OptimizerWrap : public GuardedWrap<OptimizerWrap> {
 public:
  static constexpr const char* kJsName = "NativeOptimizer";
  static void Init(Napi::Env env, Napi::Object exports);
  explicit OptimizerWrap(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Kind(const Napi::CallbackInfo& info);
  Napi::Value GroupCount(const Napi::CallbackInfo& info);
  Napi::Value TrainableCount(const Napi::CallbackInfo& info);
  Napi::Value GetLr(const Napi::CallbackInfo& info);
  Napi::Value SetLr(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value ClipGradNorm(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
  Napi::Value StateDict(const Napi::CallbackInfo& info);
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  OptimizerHandle& Checked(Napi::Env env, const char* method) const;
  void CheckIdle(Napi::Env env, const char* method) const;
  // A step while forwards on its modules are in flight would change weights under them: refused.
  void CheckModulesIdle(Napi::Env env, const char* method) const;
  // zeroGrad/clip/step while a backward() writes into their gradients: refused.
  void CheckNoBackward(Napi::Env env, const char* method) const;
  size_t CheckedGroup(Napi::Env env, const Napi::Value& value, const char* method) const;

  std::shared_ptr<OptimizerHandle> handle_;
};

void InitOptim(Napi::Env env, Napi::Object exports);

}  // namespace et
