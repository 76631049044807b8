// Native memory reported to V8 as external memory, so that the garbage
// collector feels what undisposed handles hold. Counted by storage, once per
// environment, whichever handles share it (a tensor, its views and aliases,
// the parameters of a module and the state-dict tensors that alias them), on
// every device.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <memory>
#include <unordered_map>
#include <vector>

namespace et {

class MemoryAccount {
 public:
  void Acquire(napi_env env, const std::vector<c10::Storage>& storages);
  void Release(napi_env env, const std::vector<c10::Storage>& storages);
  int64_t reported() const { return reported_; }

 private:
  struct Entry {
    int64_t holders;
    int64_t bytes;
  };
  std::unordered_map<const c10::StorageImpl*, Entry> entries_;
  int64_t reported_ = 0;
};

// One handle's share of the account: what it holds, acquired by Set and
// released by Set/Clear/destruction (finalizers and environment teardown
// included: no exception can leave it).
class AccountedStorages {
 public:
  AccountedStorages() = default;
  AccountedStorages(const AccountedStorages&) = delete;
  AccountedStorages& operator=(const AccountedStorages&) = delete;
  ~AccountedStorages() { Clear(); }

  void Set(napi_env env, std::shared_ptr<MemoryAccount> account, const std::vector<at::Tensor>& tensors);
  void Clear();

 private:
  napi_env env_ = nullptr;
  std::shared_ptr<MemoryAccount> account_;
  std::vector<c10::Storage> storages_;
};

}  // namespace et
