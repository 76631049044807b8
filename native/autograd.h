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
#pragma once
#include <napi.h>

namespace et {

void InitAutograd(Napi::Env env, Napi::Object exports);

}  // namespace et
