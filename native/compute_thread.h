// One thread for everything that records or replays an autograd graph, and
// for every forward on the CPU.
//
// libtorch's autograd engine runs ready nodes in order of their sequence
// numbers, and those are thread-local counters. A graph recorded by forwards
// that ran on different libuv pool threads (query, positive, negative) gets
// unrelated numbers, so the order in which backward sums the branches' gradients
// into a shared parameter changes from run to run and the gradients differ in
// the last bit. Recording (forward with grad, losses) and backward on this one
// thread numbers nodes in program order, as in a single-threaded PyTorch
// script: a seeded training run is bitwise reproducible.
//
// CPU forwards without grad run here too: each thread that starts OpenMP work
// keeps a team of its own, so forwards spread over the four libuv pool
// threads woke four teams' sleeping workers in turn (on a 2-vCPU VM ~1 ms more
// per MiniLM query than the same forward on one thread; ../README.md "Threads
// and BLAS"). One thread, one team: CPU forwards run one at a time, each on
// every intra-op thread, as they would share the cores anyway. CUDA forwards
// stay on the pool (they only queue kernels).
#pragma once
#include <functional>
#include <type_traits>
#include <utility>

namespace et {

// Runs `task` on the compute thread and waits for it; rethrows what it threw.
void RunOnComputeThreadVoid(const std::function<void()>& task);

// Queues `task` on the compute thread and returns at once (compute_jobs.h:
// work the JS thread hands over without a libuv pool thread between). The task
// must not throw; tasks run in the order they were queued, with RunOnComputeThread's.
void PostToComputeThread(std::function<void()> task);

// A task is about to be posted (a query being tokenized): the compute thread
// wakes now and waits for it spinning, up to kExpectMicros, so the post finds
// it awake instead of paying a wake-up after it. Does nothing on one CPU, where
// spinning would take the core from the thread that posts.
void ExpectComputeTask();
constexpr int kExpectMicros = 500;

// setNumThreads: OpenMP's team size is per thread, so at::set_num_threads on
// the JS thread leaves the compute thread's team as its first task found it.
// The compute thread applies the count given here before its next task.
void SetComputeThreadCount(int threads);

template <typename F>
auto RunOnComputeThread(F&& body) -> decltype(body()) {
  using R = decltype(body());
  if constexpr (std::is_void_v<R>) {
    RunOnComputeThreadVoid(std::forward<F>(body));
  } else {
    R result;
    RunOnComputeThreadVoid([&] { result = body(); });
    return result;
  }
}

}  // namespace et
