// Spin-waiting, shared by the threads that wait for work a few microseconds
// away instead of sleeping (small_forward.cc's partners, compute_thread.cc).
#pragma once
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <thread>

namespace et {

// One step of a spin-wait: a pause instruction, and every 1024th step (~20 µs)
// the rest of the time slice to any other runnable thread (a spinning thread
// must not hold a core that the thread it waits for, or the event loop, needs).
inline void Pause(uint32_t& steps) {
  if ((++steps & 1023) == 0) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// CPUs this process may run on (taskset, cgroup cpusets): a thread spinning on
// the only one would take it from the thread it waits for.
inline int AvailableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace et
