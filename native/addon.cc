// Registers every binding; nothing else lives here.
#include <napi.h>

#include "addon_data.h"
#include "allocator_tuning.h"
#include "autograd.h"
#include "bench.h"
#include "interface_version.h"
#include "losses.h"
#include "module.h"
#include "ops.h"
#include "optim.h"
#include "process_group.h"
#include "runtime.h"
#include "tensor.h"

namespace et {

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  TuneAllocator();  // before libtorch allocates its first large block here
  env.SetInstanceData(new AddonData());
  exports.Set("interfaceVersion", Napi::Number::New(env, EMBEDDINGS_TORCH_INTERFACE_VERSION));
  exports.Set("interfaceRevision", Napi::Number::New(env, EMBEDDINGS_TORCH_INTERFACE_REVISION));
  TensorWrap::Init(env, exports);
  ModuleWrap::Init(env, exports);
  InitRuntime(env, exports);
  InitOps(env, exports);
  InitAutograd(env, exports);
  InitOptim(env, exports);
  InitLosses(env, exports);
  InitBench(env, exports);
  InitProcessGroup(env, exports);
  return exports;
}

}  // namespace et

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return et::InitAddon(env, exports); }

NODE_API_MODULE(embeddings_torch, Init)
