#include "memory.h"

#include <unordered_set>

namespace et {

namespace {

// node-addon-api's wrapper throws on a failed status; here a failure (an environment going away) changes nothing.
void Adjust(napi_env env, int64_t delta) {
  int64_t total = 0;
  if (delta != 0) napi_adjust_external_memory(env, delta, &total);
}

}  // namespace

void MemoryAccount::Acquire(napi_env env, const std::vector<c10::Storage>& storages) {
  int64_t delta = 0;
  for (const auto& storage : storages) {
    auto& entry = entries_[storage.unsafeGetStorageImpl()];
    if (entry.holders++ == 0) {
      entry.bytes = static_cast<int64_t>(storage.nbytes());
      delta += entry.bytes;
    }
  }
  reported_ += delta;
  Adjust(env, delta);
}

void MemoryAccount::Release(napi_env env, const std::vector<c10::Storage>& storages) {
  int64_t delta = 0;
  for (const auto& storage : storages) {
    auto it = entries_.find(storage.unsafeGetStorageImpl());
    if (it == entries_.end()) continue;
    if (--it->second.holders == 0) {
      delta -= it->second.bytes;
      entries_.erase(it);
    }
  }
  reported_ += delta;
  Adjust(env, delta);
}

void AccountedStorages::Set(napi_env env, std::shared_ptr<MemoryAccount> account, const std::vector<at::Tensor>& tensors) {
  std::vector<c10::Storage> storages;
  std::unordered_set<const c10::StorageImpl*> seen;
  for (const auto& t : tensors) {
    if (!t.defined() || !t.has_storage()) continue;
    const auto& storage = t.storage();
    if (seen.insert(storage.unsafeGetStorageImpl()).second) storages.push_back(storage);
  }
  account->Acquire(env, storages);  // before releasing the old set: storages in both stay counted
  Clear();
  env_ = env;
  account_ = std::move(account);
  storages_ = std::move(storages);
}

void AccountedStorages::Clear() {
  if (account_) account_->Release(env_, storages_);
  account_.reset();
  storages_.clear();
}

}  // namespace et
