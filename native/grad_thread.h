// One thread for everything that records or replays an autograd graph.
//
// libtorch's autograd engine runs ready nodes in order of their sequence
// numbers, and those are thread-local counters. A graph recorded by forwards
// that ran on different libuv pool threads (query, positive, negative) gets
// unrelated numbers, so the order in which backward sums the branches' gradients
// into a shared parameter changes from run to run and the gradients differ in
// the last bit. Recording (forward with grad, losses) and backward on this one
// thread numbers nodes in program order, as in a single-threaded PyTorch
// script: a seeded training run is bitwise reproducible.
#pragma once
#include <functional>
#include <type_traits>
#include <utility>

namespace et {

// Runs `task` on the autograd thread and waits for it; rethrows what it threw.
void RunOnGradThreadVoid(const std::function<void()>& task);

template <typename F>
auto RunOnGradThread(F&& body) -> decltype(body()) {
  using R = decltype(body());
  if constexpr (std::is_void_v<R>) {
    RunOnGradThreadVoid(std::forward<F>(body));
  } else {
    R result;
    RunOnGradThreadVoid([&] { result = body(); });
    return result;
  }
}

}  // namespace et
