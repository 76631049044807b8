#include "compute_thread.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace et {

namespace {

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { Loop(); }) {
    id_ = thread_.get_id();
    thread_.detach();
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
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.emplace_back([&] {
        try {
          task();
        } catch (...) {
          error = std::current_exception();
        }
        std::lock_guard<std::mutex> done_lock(done_mutex);
        done = true;
        done_cv.notify_one();
      });
    }
    cv_.notify_one();
    std::unique_lock<std::mutex> done_lock(done_mutex);
    done_cv.wait(done_lock, [&] { return done; });
    if (error) std::rethrow_exception(error);
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> next;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      next();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
  std::thread::id id_;
};

}  // namespace

void RunOnComputeThreadVoid(const std::function<void()>& task) {
  // Never destroyed: the detached thread may outlive static destructors at exit.
  static ComputeThread* thread = new ComputeThread();
  thread->Run(task);
}

}  // namespace et
