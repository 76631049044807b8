// Per-environment constructors (one set per Node worker thread).
#pragma once
#include <napi.h>

namespace et {

struct AddonData {
  Napi::FunctionReference tensor;
  Napi::FunctionReference module;
};

inline AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace et
