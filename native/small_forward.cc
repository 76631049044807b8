#include "small_forward.h"

#include "spin.h"

#include <ATen/Config.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if AT_PARALLEL_OPENMP
// libgomp's (or the wheel's bundled copy's), resolved from libtorch's own dependencies at load.
#ifdef _OPENMP
#include <omp.h>
#else
extern "C" {
int omp_get_max_threads(void);
void omp_set_num_threads(int);
}
#endif
#endif

namespace et {

namespace {

constexpr int kMaxParts = 8;

// The partner threads: created on first use, never destroyed (a detached
// thread may outlive static destructors at exit).
class Partners {
 public:
  static Partners& Instance() {
    static auto* partners = new Partners();
    return *partners;
  }

  // Claims the partners for one scope; false while another scope holds them.
  bool TryOpen(int parts) {
    if (!owner_.try_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(threads_.size()) < parts - 1) {
        const int index = static_cast<int>(threads_.size());
        threads_.emplace_back([this, index] { Loop(index); });
        threads_.back().detach();
      }
      // Jobs of this scope come after this epoch: a partner that wakes (or
      // starts) late still takes the first one, and one that slept through
      // other scopes' jobs takes none of them.
      open_epoch_ = Epoch(claim_.load(std::memory_order_acquire));
      open_parts_.store(parts, std::memory_order_release);
    }
    cv_.notify_all();  // from here on the scope's partners spin
    return true;
  }

  void Close() {
    open_parts_.store(0, std::memory_order_release);  // back to sleep once they see it
    owner_.unlock();
  }

  void Run(int tasks, const std::function<void(int)>& body) {
    if (tasks <= 1 || open_parts_.load(std::memory_order_relaxed) <= 1) {
      for (int t = 0; t < tasks; ++t) body(t);
      return;
    }
    job_ = &body;
    done_.store(0, std::memory_order_relaxed);
    // The new word publishes job_ (release); a partner sees it as a new epoch.
    uint64_t word = Word(Epoch(claim_.load(std::memory_order_relaxed)) + 1, tasks, 0);
    claim_.store(word, std::memory_order_release);
    int here = 0;
    while (Next(word) < Tasks(word)) {
      if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      RunTask(Next(word));
      ++here;
      word = claim_.load(std::memory_order_acquire);
    }
    // Always wait: the partners read `body` and whatever it captured.
    uint32_t steps = 0;
    while (done_.load(std::memory_order_acquire) < tasks - here) Pause(steps);
    std::exception_ptr first;
    for (int t = 0; t < tasks; ++t) {
      if (!first) first = errors_[t];
      errors_[t] = nullptr;
    }
    if (first) std::rethrow_exception(first);
  }

 private:
  // The claim word: the job's epoch (bits 32..63), its task count (16..31)
  // and its next unclaimed task (0..15). A task is claimed by a compare-and-
  // swap of the whole word, so a partner that saw an epoch late can claim a
  // task only while that epoch's job still has one: its job_ is the current
  // one, and the next job is not set up before every claimed task is done.
  static uint64_t Word(uint64_t epoch, int tasks, int next) {
    return epoch << 32 | static_cast<uint64_t>(tasks) << 16 | static_cast<uint64_t>(next);
  }
  static uint64_t Epoch(uint64_t word) { return word >> 32; }
  static int Tasks(uint64_t word) { return static_cast<int>(word >> 16 & 0xffff); }
  static int Next(uint64_t word) { return static_cast<int>(word & 0xffff); }

  void RunTask(int t) {
    try {
      (*job_)(t);
    } catch (...) {
      errors_[t] = std::current_exception();
    }
  }

  void Loop(int index) {
    pthread_setname_np(pthread_self(), ("et-partner-" + std::to_string(index + 1)).c_str());  // as top -H and perf show it
#if AT_PARALLEL_OPENMP
    omp_set_num_threads(1);  // oneDNN on this thread never opens a parallel region
#endif
    const int part = index + 1;
    const auto in_scope = [&] { return part < open_parts_.load(std::memory_order_acquire); };  // beyond its parts: asleep
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, in_scope);
        seen = open_epoch_;
      }
      uint32_t steps = 0;
      while (in_scope()) {
        uint64_t word = claim_.load(std::memory_order_acquire);
        if (Epoch(word) == seen) {
          Pause(steps);
          continue;
        }
        steps = 0;
        seen = Epoch(word);
        int mine = 0;
        while (Epoch(word) == seen && Next(word) < Tasks(word)) {
          if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
          RunTask(Next(word));
          ++mine;
          word = claim_.load(std::memory_order_acquire);
        }
        if (mine > 0) done_.fetch_add(mine, std::memory_order_release);
      }
    }
  }

  std::mutex owner_;  // held by the open scope
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<int> open_parts_{0};  // the open scope's parts; 0: none open
  uint64_t open_epoch_ = 0;          // the claim word's epoch when the scope opened (under mutex_)
  std::atomic<uint64_t> claim_{0};   // Word(epoch, tasks, next) of the current job
  std::atomic<int> done_{0};         // the job's tasks that partners finished
  const std::function<void(int)>* job_ = nullptr;  // written before the job's word, read after it
  std::exception_ptr errors_[SmallForwardScope::kMaxTasks];
  std::vector<std::thread> threads_;
};

thread_local int parts_here = 1;
std::atomic<uint64_t> opened{0};

}  // namespace

SmallForwardScope::SmallForwardScope(bool eligible, int64_t rows) {
#if AT_PARALLEL_OPENMP
  if (!eligible || rows > kMaxRows || parts_here > 1) return;
  at::internal::lazy_init_num_threads();
  static const int cpus = AvailableCpus();
  const int threads = std::min({omp_get_max_threads(), cpus, kMaxParts});
  if (threads < 2 || !Partners::Instance().TryOpen(threads)) return;
  open_ = true;
  saved_threads_ = omp_get_max_threads();
  omp_set_num_threads(1);
  parts_here = threads;
  opened.fetch_add(1, std::memory_order_relaxed);
#else
  (void)eligible;
  (void)rows;
#endif
}

SmallForwardScope::~SmallForwardScope() {
#if AT_PARALLEL_OPENMP
  if (!open_) return;
  parts_here = 1;
  omp_set_num_threads(saved_threads_);
  Partners::Instance().Close();
#endif
}

int SmallForwardScope::Parts() { return parts_here; }

uint64_t SmallForwardScope::Opened() { return opened.load(std::memory_order_relaxed); }

void SmallForwardScope::Run(int tasks, const std::function<void(int)>& body) {
  TORCH_CHECK(tasks >= 0 && tasks <= kMaxTasks, "SmallForwardScope::Run: ", tasks, " tasks (at most ", kMaxTasks, ")");
  if (parts_here <= 1) {
    for (int t = 0; t < tasks; ++t) body(t);
    return;
  }
  Partners::Instance().Run(tasks, body);
}

}  // namespace et
