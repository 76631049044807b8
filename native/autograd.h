// Backward passes, run off the JS thread. Minimal on purpose: optimizers and
// training steps live in optim.*; this is what a caller needs to fill
// parameter gradients from model outputs.
//
// [async] backwardOutputs(outputs: Tensor[], gradients: Tensor[] | null) -> Promise<undefined>
//           torch::autograd::backward: accumulates d(sum_i <outputs[i], gradients[i]>)
//           into every leaf that requires grad. gradients null: outputs must be scalars.
//           Throws ERR_SHAPE when a gradient's shape differs from its output's,
//           ERR_TORCH when an output has no autograd graph.
// [sync]  namedGradients(module) -> Record<string, Tensor | null>
//           each parameter's accumulated .grad (an alias, no copy); null where none was computed.
//
// A queued backward holds a lease on its graph's leaves (the parameters it
// writes gradients into) from queueing to completion: state changes of the
// modules owning them (train, to, setRequiresGrad, loadStateDict, dispose)
// and optimizer zeroGrad/clip/step over them are refused with ERR_BUSY meanwhile.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <vector>

namespace et {

class BackwardLease {
 public:
  // Walks the autograd graph of `roots` (JS thread, at queueing) and registers its leaves.
  explicit BackwardLease(const std::vector<at::Tensor>& roots);
  BackwardLease(const BackwardLease&) = delete;
  BackwardLease& operator=(const BackwardLease&) = delete;
  ~BackwardLease() { Release(); }
  void Release();  // when the backward finished (or never ran)

  // Whether a queued or running backward writes gradients into any of `tensors`.
  static bool Holds(const std::vector<at::Tensor>& tensors);
  // Whether any backward holds a lease now: callers skip collecting tensors for Holds when none does.
  static bool Any();

 private:
  std::vector<const c10::TensorImpl*> leaves_;
  bool released_ = false;
};

void InitAutograd(Napi::Env env, Napi::Object exports);

}  // namespace et
