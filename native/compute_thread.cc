#include "compute_thread.h"

#include "spin.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <pthread.h>
#include <thread>

namespace et {

namespace {

std::atomic<int> requested_threads{0};  // 0: libtorch's default, never set

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { Loop(); }) {
    id_ = thread_.get_id();
    thread_.detach();
  }

  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
      queued_.store(static_cast<int>(queue_.size()), std::memory_order_release);
    }
    cv_.notify_one();
  }

  void Expect() {
    if (!can_spin_) return;
    expect_until_.store(Now() + std::chrono::microseconds(kExpectMicros).count(), std::memory_order_release);
    { std::lock_guard<std::mutex> lock(mutex_); }  // a Loop between its check and its wait sees the new deadline
    cv_.notify_one();
  }

  void Run(const std::function<void()>& task) {
    if (std::this_thread::get_id() == id_) {  // a task that runs another: waiting for itself would never end
      task();
      return;
    }
    std::exception_ptr error;
    bool done = false;
    std::mutex done_mutex;
    std::condition_variable done_cv;
    Post([&] {
      try {
        task();
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> done_lock(done_mutex);
      done = true;
      done_cv.notify_one();
    });
    std::unique_lock<std::mutex> done_lock(done_mutex);
    done_cv.wait(done_lock, [&] { return done; });
    if (error) std::rethrow_exception(error);
  }

 private:
  void Loop() {
    pthread_setname_np(pthread_self(), "et-compute");  // as top -H and perf show it
    for (;;) {
      std::function<void()> next;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        while (queue_.empty()) {
          const int64_t until = expect_until_.load(std::memory_order_acquire);
          if (Now() >= until) {
            cv_.wait(lock);  // Post or Expect
            continue;
          }
          lock.unlock();  // expected: spin for the task outside the lock, the deadline at most
          for (uint32_t steps = 0; queued_.load(std::memory_order_acquire) == 0 && Now() < until;) Pause(steps);
          lock.lock();
        }
        next = std::move(queue_.front());
        queue_.pop_front();
        queued_.store(static_cast<int>(queue_.size()), std::memory_order_release);
      }
      const int threads = requested_threads.load();
      if (threads > 0 && threads != applied_threads_) {
        at::set_num_threads(threads);
        applied_threads_ = threads;
      }
      next();
    }
  }

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::atomic<int> queued_{0};             // queue_.size(), read without the lock while spinning
  std::atomic<int64_t> expect_until_{0};   // steady-clock µs until which a task is expected (Expect)
  const bool can_spin_ = AvailableCpus() > 1;
  std::thread thread_;
  std::thread::id id_;
  int applied_threads_ = 0;  // this thread's OpenMP team size as last set here
};

ComputeThread& TheComputeThread() {
  // Never destroyed: the detached thread may outlive static destructors at exit.
  static ComputeThread* thread = new ComputeThread();
  return *thread;
}

}  // namespace

void SetComputeThreadCount(int threads) { requested_threads.store(threads); }

void RunOnComputeThreadVoid(const std::function<void()>& task) { TheComputeThread().Run(task); }

void PostToComputeThread(std::function<void()> task) { TheComputeThread().Post(std::move(task)); }

void ExpectComputeTask() { TheComputeThread().Expect(); }

}  // namespace et
