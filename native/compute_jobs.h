// Work the JS thread hands straight to the compute thread (compute_thread.h)
// and settles back on the JS thread: CPU forwards and forwards with grad.
//
// An AsyncWorker (workers.h) takes four thread hand-offs for them: JS thread
// -> a libuv pool thread -> the compute thread -> the pool thread -> JS. Each
// wakes a sleeping thread, and on a VM a wake-up is an interrupt to another
// vCPU: a MiniLM query's forward took ~0.2 ms longer awaited that way than
// the same forward timed inside C++ (AVX-512 Xeon, 2 vCPUs). A ComputeJob
// takes two: the JS thread queues it on the compute thread, which hands the
// finished job to the JS thread through a thread-safe function.
//
// Teardown: where the JS environment goes away (worker.terminate(), process
// exit) with jobs queued or running, their Promises can no longer settle. The
// compute thread still runs them and then frees them without touching JS; a
// job already handed to the JS thread is freed by the thread-safe function's
// own teardown. The module's in-flight count is held from Post to that point.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "errors.h"
#include "module.h"

namespace et {

class ComputeJob {
 public:
  ComputeJob(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module);
  virtual ~ComputeJob();
  ComputeJob(const ComputeJob&) = delete;
  ComputeJob& operator=(const ComputeJob&) = delete;

  // JS thread: queues the job on the compute thread and returns its Promise.
  static Napi::Promise Post(Napi::Env env, std::unique_ptr<ComputeJob> job);

 protected:
  virtual void Run() = 0;                         // compute thread: tensors only
  virtual Napi::Value Result(Napi::Env env) = 0;  // JS thread
  std::shared_ptr<ModuleHandle> module_;

 private:
  friend struct ComputeJobs;
  void Execute();           // compute thread: Run, its failure kept
  void Settle(Napi::Env env);  // JS thread: resolves or rejects the Promise

  std::string operation_;
  bool failed_ = false;
  NativeFailure failure_;
  Napi::Promise::Deferred deferred_;
};

}  // namespace et
