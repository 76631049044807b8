// Tensor operations the TypeScript layer needs between forwards, run off the
// JS thread. Kept few: models and losses do their math natively.
//
// [async] cat(tensors, dim) -> Promise<Tensor>   concatenation (batched item embeddings)
#pragma once
#include <napi.h>

namespace et {

void InitOps(Napi::Env env, Napi::Object exports);

}  // namespace et
