// Per-environment constructors (one set per Node worker thread).
#pragma once
#include <napi.h>

#include <memory>

#include "memory.h"

namespace et {

struct ComputeJobs;  // compute_jobs.cc

struct AddonData {
  Napi::FunctionReference tensor;
  Napi::FunctionReference module;
  // Shared with every handle, so a finalizer that runs after this struct is gone still has it.
  std::shared_ptr<MemoryAccount> memory = std::make_shared<MemoryAccount>();
  // How finished compute-thread jobs come back to this environment's thread (made on first use).
  std::shared_ptr<ComputeJobs> compute_jobs;
};

inline AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace et
