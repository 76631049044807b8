#include "process_group.h"

// EMBEDDINGS_TORCH_C10D_GLOO and EMBEDDINGS_TORCH_C10D_NCCL come from the build's probes
// (USE_C10D_GLOO alone is not enough: Torch's CMake config defines it for every target whether
// gloo/ is installed or not). NCCL was written against libtorch 2.x (ProcessGroupNCCL as a
// c10d::Backend) and is left out of a 1.x build.
#include <torch/version.h>
#if defined(EMBEDDINGS_TORCH_C10D_NCCL) && TORCH_VERSION_MAJOR < 2
#undef EMBEDDINGS_TORCH_C10D_NCCL
#endif

#if defined(EMBEDDINGS_TORCH_C10D_GLOO) || defined(EMBEDDINGS_TORCH_C10D_NCCL)

#include <c10/util/StringUtil.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>
#ifdef EMBEDDINGS_TORCH_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef EMBEDDINGS_TORCH_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "binding.h"
#include "errors.h"
#include "module.h"

namespace et {

namespace {

using Millis = std::chrono::milliseconds;
using ResultBuilder = std::function<Napi::Value(Napi::Env)>;

// One thread per group, running its calls in the order they were posted. Detached and
// never joined: a collective stuck on a peer must not block dispose() or process exit.
class CommQueue {
 public:
  CommQueue() {
    std::thread([state = state_] {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock<std::mutex> lock(state->mutex);
          state->cv.wait(lock, [&] { return !state->jobs.empty(); });
          job = std::move(state->jobs.front());
          state->jobs.pop_front();
        }
        if (!job) return;  // posted by Stop()
        job();
      }
    }).detach();
  }
  void Post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->jobs.push_back(std::move(job));
    }
    state_->cv.notify_one();
  }
  void Stop() { Post(nullptr); }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::function<void()>> jobs;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Runs `job` on `queue` and settles the returned Promise on the JS thread with what it built.
Napi::Promise Submit(Napi::Env env, CommQueue& queue, std::string operation, std::function<ResultBuilder()> job) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
  auto noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  auto tsfn = Napi::ThreadSafeFunction::New(env, noop, "embeddings-torch c10d", 0, 1);
  queue.Post([deferred, tsfn, operation = std::move(operation), job = std::move(job)]() mutable {
    auto failure = std::make_shared<NativeFailure>();
    auto result = std::make_shared<ResultBuilder>();
    try {
      *result = job();
    } catch (const std::exception& e) {
      *failure = Describe(e, operation);
      if (failure->code.empty()) failure->code = kErrTorch;
    }
    tsfn.BlockingCall([deferred, failure, result, operation](Napi::Env env, Napi::Function) {
      try {
        if (!failure->code.empty()) deferred->Reject(ToJsError(env, *failure).Value());
        else deferred->Resolve(*result ? (*result)(env) : env.Undefined());
      } catch (const Napi::Error& e) {
        deferred->Reject(e.Value());
      } catch (...) {
        // the environment is going away: the Promise can no longer settle
      }
    });
    tsfn.Release();
  });
  return deferred->Promise();
}

#ifdef EMBEDDINGS_TORCH_C10D_NCCL
// ProcessGroupNCCL::shutdown() (libtorch 2.x; its arguments changed across versions): where it
// exists the communicators are destroyed in order, else the destructor aborts them.
template <typename T, typename = void>
struct HasShutdown : std::false_type {};
template <typename T>
struct HasShutdown<T, std::void_t<decltype(std::declval<T&>().shutdown())>> : std::true_type {};

void Shutdown(c10d::ProcessGroupNCCL& nccl) {
  if constexpr (HasShutdown<c10d::ProcessGroupNCCL>::value) nccl.shutdown();
}
#endif

// CPU tensors go to Gloo, CUDA tensors to NCCL (lib/training/distributed/support.ts checks
// beforehand that the build has the backend a model's device needs). The NCCL group is made at
// the first CUDA collective, on every rank at the same point of the same call order: a CPU run
// of a CUDA build never makes one (ProcessGroupNCCL refuses a machine without GPUs).
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
#ifdef EMBEDDINGS_TORCH_C10D_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;  // libtorch 2.x: a c10d::Backend; the calls used here are the same
#endif
#ifdef EMBEDDINGS_TORCH_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // made by Nccl() at the first CUDA collective
#endif
  int rank = 0;
  int world = 1;
  std::string where;  // MASTER_ADDR:MASTER_PORT, for messages
  Millis timeout{0};
  int64_t store_rounds = 0;  // StoreAllreduce/StoreBarrier rounds so far (builds without Gloo)

  ~Group() {
#ifdef EMBEDDINGS_TORCH_C10D_NCCL
    if (nccl) Shutdown(*nccl);
#endif
  }
};

std::vector<int> Absent(c10d::Store& store, const std::string& prefix, int world) {
  std::vector<int> missing;
  for (int r = 0; r < world; ++r)
    if (!store.check({prefix + std::to_string(r)})) missing.push_back(r);
  return missing;
}

std::string RankList(const std::vector<int>& ranks) {
  return (ranks.size() == 1 ? "rank " : "ranks ") + c10::Join(", ", ranks);
}

std::shared_ptr<Group> Rendezvous(const std::string& addr, int port, int rank, int world, Millis timeout, const std::string& ifname,
                                  const std::string& hostname) {
  auto group = std::make_shared<Group>();
  group->rank = rank;
  group->world = world;
  group->timeout = timeout;
  group->where = addr + ":" + std::to_string(port);
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.isServer = rank == 0;
  options.numWorkers = static_cast<std::size_t>(world);
  options.waitWorkers = false;  // waited for below, key by key, so a timeout can name who is missing
  options.timeout = timeout;
  try {
    group->store = c10::make_intrusive<c10d::TCPStore>(addr, options);
  } catch (const std::exception& e) {
    const std::string why = e.what();
    if (rank == 0) throw std::runtime_error("rank 0 could not serve the rendezvous store on " + group->where + " (is the port taken? set MASTER_PORT to a free one): " + why);
    throw std::runtime_error("rank " + std::to_string(rank) + " could not reach rank 0's rendezvous store at " + group->where + " within " +
                             std::to_string(timeout.count()) + " ms (is rank 0 running, and are MASTER_ADDR/MASTER_PORT the same on every rank?): " + why);
  }
  group->store->set("et/joined/" + std::to_string(rank), std::vector<uint8_t>{1});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto missing = Absent(*group->store, "et/joined/", world);
    if (missing.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error(RankList(missing) + " of " + std::to_string(world) + " did not join the rendezvous at " + group->where + " within " +
                               std::to_string(timeout.count()) + " ms (the timeout; raise it with distributed.timeoutMs)");
    std::this_thread::sleep_for(Millis(20));
  }
#ifdef EMBEDDINGS_TORCH_C10D_GLOO
  auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
  if (!ifname.empty()) gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  else if (!hostname.empty()) gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
  else gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("et/gloo", group->store);
  group->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world, gloo_options);
#else
  (void)ifname;
  (void)hostname;
#endif
  return group;
}

#ifdef EMBEDDINGS_TORCH_C10D_NCCL
c10d::ProcessGroupNCCL& Nccl(Group& g) {
  if (!g.nccl) {
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = g.timeout;  // c10d's default is 10 minutes; NCCL's watchdog aborts the process after it
    g.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("et/nccl", g.store), g.rank, g.world, options);
  }
  return *g.nccl;
}
#endif

// A collective on a CUDA tensor in a build without NCCL, or on a CPU tensor without Gloo.
[[noreturn]] void NoBackend(const at::Tensor& t, const char* what) {
  const bool cuda = t.is_cuda();
  throw std::runtime_error(std::string(what) + " of " + (cuda ? "CUDA" : "CPU") + " tensors needs c10d's " + (cuda ? "NCCL" : "Gloo") +
                           ", which this addon was built without (c10dBackends)");
}

// Each tensor once (shared towers list the same parameters twice).
void AddUnique(std::vector<at::Tensor>& out, std::set<const void*>& seen, const at::Tensor& t) {
  if (t.defined() && seen.insert(t.unsafeGetTensorImpl()).second) out.push_back(t);
}

// Runs `collective` in place on flat buckets of consecutive tensors of one dtype and device (up to
// bucket_bytes each), then copies the results back: few large messages instead of many.
void ForEachBucket(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, const std::function<void(at::Tensor&)>& collective) {
  torch::NoGradGuard no_grad;
  size_t begin = 0;
  while (begin < tensors.size()) {
    size_t end = begin;
    int64_t bytes = 0;
    while (end < tensors.size() && tensors[end].scalar_type() == tensors[begin].scalar_type() && tensors[end].device() == tensors[begin].device() &&
           (end == begin || bytes + tensors[end].nbytes() <= static_cast<size_t>(bucket_bytes))) {
      bytes += static_cast<int64_t>(tensors[end].nbytes());
      ++end;
    }
    std::vector<at::Tensor> flat_parts;
    for (size_t i = begin; i < end; ++i) flat_parts.push_back(tensors[i].reshape({-1}));
    at::Tensor flat = torch::cat(flat_parts);
    collective(flat);
    int64_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(flat.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
    begin = end;
  }
}

#ifndef EMBEDDINGS_TORCH_C10D_GLOO
// Without Gloo (pip wheels of libtorch ship no gloo/ headers) the small CPU collectives (the
// has-grad flags, loss and metric sums, barrier) go through the rendezvous store: every rank
// writes its values, reads everyone's and reduces them in rank order, so every rank holds the
// same bits. The last rank to finish a round deletes its keys.
void StoreAllreduce(Group& g, at::Tensor& t, c10d::ReduceOp op) {
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous(), "StoreAllreduce: a contiguous CPU tensor");
  const std::string round = "et/ar/" + std::to_string(g.store_rounds++) + "/";
  const auto* bytes = static_cast<const uint8_t*>(t.data_ptr());
  g.store->set(round + std::to_string(g.rank), std::vector<uint8_t>(bytes, bytes + t.nbytes()));
  std::vector<std::string> keys;
  for (int r = 0; r < g.world; ++r) keys.push_back(round + std::to_string(r));
  g.store->wait(keys, g.timeout);
  at::Tensor result;
  for (int r = 0; r < g.world; ++r) {
    auto value = g.store->get(keys[static_cast<size_t>(r)]);
    TORCH_CHECK(value.size() == t.nbytes(), "allreduce: rank ", r, " sent ", value.size(), " bytes, this rank ", t.nbytes());
    at::Tensor part = torch::empty_like(t);
    std::memcpy(part.data_ptr(), value.data(), value.size());
    if (r == 0) result = part;
    else if (op == c10d::ReduceOp::SUM) result.add_(part);
    else if (op == c10d::ReduceOp::MAX) result = torch::maximum(result, part);
    else if (op == c10d::ReduceOp::MIN) result = torch::minimum(result, part);
    else TORCH_CHECK(false, "allreduce: this reduction is not supported without Gloo");
  }
  t.copy_(result);
  if (g.store->add(round + "done", 1) == g.world) {
    for (const auto& key : keys) g.store->deleteKey(key);
    g.store->deleteKey(round + "done");
  }
}
#endif

void Allreduce(Group& g, at::Tensor& t, c10d::ReduceOp op) {
  std::vector<at::Tensor> one{t};
  c10d::AllreduceOptions options;
  options.reduceOp = op;
  if (t.is_cuda()) {
#ifdef EMBEDDINGS_TORCH_C10D_NCCL
    // wait(): the current stream waits for NCCL's; later work on it (the copy back, the
    // optimizer step) sees the sums without blocking this thread.
    Nccl(g).allreduce(one, options)->wait();
    return;
#else
    NoBackend(t, "allreduce");
#endif
  }
#ifdef EMBEDDINGS_TORCH_C10D_GLOO
  g.gloo->allreduce(one, options)->wait();
#else
  StoreAllreduce(g, t, op);
#endif
}

void Broadcast(Group& g, at::Tensor& t, int root) {
  std::vector<at::Tensor> one{t};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  if (t.is_cuda()) {
#ifdef EMBEDDINGS_TORCH_C10D_NCCL
    Nccl(g).broadcast(one, options)->wait();
    return;
#endif
  } else {
#ifdef EMBEDDINGS_TORCH_C10D_GLOO
    g.gloo->broadcast(one, options)->wait();
    return;
#endif
  }
  NoBackend(t, "broadcast");
}

void WaitForAll(Group& g) {
#ifdef EMBEDDINGS_TORCH_C10D_GLOO
  g.gloo->barrier()->wait();
#else
  at::Tensor one = torch::ones({1}, torch::kDouble);
  StoreAllreduce(g, one, c10d::ReduceOp::SUM);
#endif
}

c10d::ReduceOp ParseOp(Napi::Env env, const std::string& name) {
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "min") return c10d::ReduceOp::MIN;
  Throw(env, "allreduce: op must be \"sum\", \"max\" or \"min\" but received \"" + name + "\"", kErrTorch);
}

std::vector<std::shared_ptr<ModuleHandle>> ModulesArg(const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), what + ": expected an array of NativeModule");
  auto array = value.As<Napi::Array>();
  std::vector<std::shared_ptr<ModuleHandle>> modules;
  for (uint32_t i = 0; i < array.Length(); ++i) modules.push_back(ModuleWrap::FromValue(array.Get(i), what + ": module " + std::to_string(i)));
  return modules;
}

class ProcessGroupWrap : public GuardedWrap<ProcessGroupWrap> {
 public:
  static constexpr const char* kJsName = "NativeProcessGroup";

  static void Init(Napi::Env env, Napi::Object exports) {
    auto cls = DefineClass(env, kJsName,
                           {GuardedStatic<Create>("create"), GuardedAccessor<&ProcessGroupWrap::Rank>("rank"),
                            GuardedAccessor<&ProcessGroupWrap::WorldSize>("worldSize"),
                            GuardedMethod<&ProcessGroupWrap::BroadcastModules>("broadcastModules"),
                            GuardedMethod<&ProcessGroupWrap::AllreduceGradients>("allreduceGradients"),
                            GuardedMethod<&ProcessGroupWrap::AllreduceValues>("allreduce"),
                            GuardedMethod<&ProcessGroupWrap::Barrier>("barrier"),
                            GuardedMethod<&ProcessGroupWrap::MissingPeers>("missingPeers"),
                            GuardedMethod<&ProcessGroupWrap::Dispose>("dispose")});
    // One constructor per environment (Node worker threads load the addon again).
    auto* ref = new Napi::FunctionReference(Napi::Persistent(cls));
    {
      std::lock_guard<std::mutex> lock(constructors_mutex_);
      constructors_[env] = ref;
    }
    env.AddCleanupHook([env_key = static_cast<napi_env>(env), ref] {
      std::lock_guard<std::mutex> lock(constructors_mutex_);
      constructors_.erase(env_key);
      delete ref;
    });
    exports.Set(kJsName, cls);
  }

  explicit ProcessGroupWrap(const Napi::CallbackInfo& info) : GuardedWrap<ProcessGroupWrap>(info) {}
  // Collected or torn down with the environment (process exit): the group is left as it is,
  // since destroying it while the process exits races Gloo's and the store's threads.
  ~ProcessGroupWrap() override {
    if (!queue_) return;
    new std::shared_ptr<Group>(std::move(group_));  // deliberately leaked
    queue_->Stop();
  }

 private:
  static Napi::Value Create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "create: expected an options object");
    auto o = info[0].As<Napi::Object>();
    const std::string addr = o.Get("masterAddr").ToString();
    const int port = o.Get("masterPort").ToNumber().Int32Value();
    const int rank = o.Get("rank").ToNumber().Int32Value();
    const int world = o.Get("worldSize").ToNumber().Int32Value();
    const Millis timeout(o.Get("timeoutMs").ToNumber().Int64Value());
    const std::string ifname = o.Has("ifname") && o.Get("ifname").IsString() ? o.Get("ifname").ToString().Utf8Value() : "";
    const std::string hostname = o.Has("hostname") && o.Get("hostname").IsString() ? o.Get("hostname").ToString().Utf8Value() : "";
    auto queue = std::make_shared<CommQueue>();
    return Submit(env, *queue, "NativeProcessGroup.create", [=]() -> ResultBuilder {
      std::shared_ptr<Group> group;
      try {
        group = Rendezvous(addr, port, rank, world, timeout, ifname, hostname);
      } catch (...) {
        queue->Stop();  // no group: this thread has nothing more to do
        throw;
      }
      return [group, queue](Napi::Env env) -> Napi::Value {
        Napi::FunctionReference* ctor = nullptr;
        {
          std::lock_guard<std::mutex> lock(constructors_mutex_);
          ctor = constructors_.at(env);
        }
        auto object = ctor->New({});
        auto* wrap = Napi::ObjectWrap<ProcessGroupWrap>::Unwrap(object);
        wrap->group_ = group;
        wrap->queue_ = queue;
        return object;
      };
    });
  }

  Group& Checked(Napi::Env env) const {
    if (!group_) Throw(env, "this process group was disposed", kErrDisposed);
    return *group_;
  }
  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Checked(info.Env()).rank); }
  Napi::Value WorldSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Checked(info.Env()).world); }

  Napi::Value BroadcastModules(const Napi::CallbackInfo& info) {
    Checked(info.Env());
    auto modules = ModulesArg(info[0], "broadcastModules");
    const int root = info[1].ToNumber().Int32Value();
    auto group = group_;
    return Submit(info.Env(), *queue_, "NativeProcessGroup.broadcastModules", [group, modules, root]() -> ResultBuilder {
      std::vector<at::Tensor> tensors;
      std::set<const void*> seen;
      for (const auto& m : modules) {
        for (const auto& p : m->named_parameters()) AddUnique(tensors, seen, p.second);
        for (const auto& b : m->named_buffers()) AddUnique(tensors, seen, b.second);
      }
      ForEachBucket(tensors, kBucketBytes, [&](at::Tensor& flat) { Broadcast(*group, flat, root); });
      return nullptr;
    });
  }

  Napi::Value AllreduceGradients(const Napi::CallbackInfo& info) {
    Checked(info.Env());
    auto modules = ModulesArg(info[0], "allreduceGradients");
    const double divisor = info[1].ToNumber().DoubleValue();
    const int64_t bucket_bytes = info[2].IsNumber() ? info[2].ToNumber().Int64Value() : kBucketBytes;
    auto group = group_;
    return Submit(info.Env(), *queue_, "NativeProcessGroup.allreduceGradients", [group, modules, divisor, bucket_bytes]() -> ResultBuilder {
      std::vector<at::Tensor> params;
      std::set<const void*> seen;
      for (const auto& m : modules)
        for (const auto& p : m->named_parameters())
          if (p.second.requires_grad()) AddUnique(params, seen, p.second);
      if (params.empty()) return nullptr;
      // Which parameters hold a grad on some rank: an unused one keeps none (the optimizer skips it).
      at::Tensor has_grad = torch::zeros({static_cast<int64_t>(params.size())}, torch::kFloat);
      for (size_t i = 0; i < params.size(); ++i) has_grad[static_cast<int64_t>(i)] = params[i].grad().defined() ? 1.0 : 0.0;
      Allreduce(*group, has_grad, c10d::ReduceOp::SUM);
      std::vector<at::Tensor> grads;
      for (size_t i = 0; i < params.size(); ++i) {
        if (has_grad[static_cast<int64_t>(i)].item<float>() == 0) continue;
        if (!params[i].grad().defined()) params[i].mutable_grad() = torch::zeros_like(params[i]);
        grads.push_back(params[i].grad());
      }
      ForEachBucket(grads, bucket_bytes, [&](at::Tensor& flat) {
        Allreduce(*group, flat, c10d::ReduceOp::SUM);
        if (divisor != 1) flat.div_(divisor);
      });
      return nullptr;
    });
  }

  Napi::Value AllreduceValues(const Napi::CallbackInfo& info) {
    Checked(info.Env());
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(info.Env(), "allreduce: values must be a Float64Array");
    auto values = info[0].As<Napi::Float64Array>();
    const auto op = ParseOp(info.Env(), info[1].ToString());
    // Copied on the JS thread: the caller may reuse its array.
    at::Tensor t = torch::from_blob(values.Data(), {static_cast<int64_t>(values.ElementLength())}, torch::kDouble).clone();
    auto group = group_;
    return Submit(info.Env(), *queue_, "NativeProcessGroup.allreduce", [group, t, op]() mutable -> ResultBuilder {
      Allreduce(*group, t, op);
      return [t](Napi::Env env) -> Napi::Value {
        auto out = Napi::Float64Array::New(env, static_cast<size_t>(t.numel()));
        std::memcpy(out.Data(), t.data_ptr<double>(), t.nbytes());
        return out;
      };
    });
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    Checked(info.Env());
    auto group = group_;
    return Submit(info.Env(), *queue_, "NativeProcessGroup.barrier", [group]() -> ResultBuilder {
      WaitForAll(*group);
      return nullptr;
    });
  }

  Napi::Value MissingPeers(const Napi::CallbackInfo& info) {
    Checked(info.Env());
    const Millis wait(info[0].ToNumber().Int64Value());
    auto group = group_;
    return Submit(info.Env(), *queue_, "NativeProcessGroup.missingPeers", [group, wait]() -> ResultBuilder {
      std::vector<int> missing;
      try {
        group->store->set("et/alive/" + std::to_string(group->rank), std::vector<uint8_t>{1});
        const auto deadline = std::chrono::steady_clock::now() + wait;
        for (;;) {
          missing = Absent(*group->store, "et/alive/", group->world);
          if (missing.empty() || std::chrono::steady_clock::now() >= deadline) break;
          std::this_thread::sleep_for(Millis(50));
        }
      } catch (const std::exception&) {
        missing = {0};  // the store lives in rank 0: unreachable means rank 0 is gone
      }
      return [missing](Napi::Env env) -> Napi::Value {
        auto out = Napi::Array::New(env, missing.size());
        for (size_t i = 0; i < missing.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, missing[i]));
        return out;
      };
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  // The group is dropped on its own thread after the calls queued before: a destructor
  // that waits for Gloo's threads never runs on the JS thread.
  void Release() {
    if (!queue_) return;
    queue_->Post([group = std::move(group_)]() mutable { group.reset(); });
    queue_->Stop();
    queue_.reset();
  }

  static constexpr int64_t kBucketBytes = 25 << 20;  // as PyTorch's DDP default bucket_cap_mb
  static std::mutex constructors_mutex_;
  static std::map<napi_env, Napi::FunctionReference*> constructors_;
  std::shared_ptr<Group> group_;
  std::shared_ptr<CommQueue> queue_;
};

std::mutex ProcessGroupWrap::constructors_mutex_;
std::map<napi_env, Napi::FunctionReference*> ProcessGroupWrap::constructors_;

}  // namespace

void InitProcessGroup(Napi::Env env, Napi::Object exports) {
  ProcessGroupWrap::Init(env, exports);
  std::vector<std::string> backends;
#ifdef EMBEDDINGS_TORCH_C10D_GLOO
  backends.push_back("gloo");
#endif
#ifdef EMBEDDINGS_TORCH_C10D_NCCL
  backends.push_back("nccl");
#endif
  exports.Set("c10dBackends", Napi::String::New(env, c10::Join(",", backends)));
}

}  // namespace et

#else  // built without c10d's Gloo and NCCL headers: no NativeProcessGroup export; JS reports why

namespace et {

void InitProcessGroup(Napi::Env env, Napi::Object exports) {
  exports.Set("c10dBackends", Napi::String::New(env, ""));
}

}  // namespace et

#endif
