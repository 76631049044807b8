#include "compute_jobs.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>

#include "addon_data.h"
#include "compute_thread.h"

namespace et {

// One per JS environment: the thread-safe function that brings finished jobs
// back to its thread, and what the compute thread must know of its teardown.
struct ComputeJobs {
  napi_threadsafe_function tsfn = nullptr;
  int pending = 0;  // JS thread only: jobs posted and not yet settled (the function keeps the loop alive while > 0)

  std::mutex mutex;
  std::condition_variable idle;
  bool closed = false;  // the function is finalized: never call it again
  int calling = 0;      // compute-thread calls into the function under way

  // JS thread.
  static std::shared_ptr<ComputeJobs> For(Napi::Env env) {
    auto& data = GetAddonData(env);
    if (data.compute_jobs) return data.compute_jobs;
    auto jobs = std::make_shared<ComputeJobs>();
    napi_value name;
    NAPI_THROW_IF_FAILED(env, napi_create_string_utf8(env, "embeddings-torch", NAPI_AUTO_LENGTH, &name), {});
    // The finalizer's own reference: it outlives AddonData when the environment's teardown frees that first.
    auto* held = new std::shared_ptr<ComputeJobs>(jobs);
    const napi_status status = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, held, Finalize,
                                                               jobs.get(), CallJs, &jobs->tsfn);
    if (status != napi_ok) {
      delete held;
      NAPI_THROW_IF_FAILED(env, status, {});
    }
    napi_unref_threadsafe_function(env, jobs->tsfn);  // referenced only while jobs are pending
    data.compute_jobs = jobs;
    return jobs;
  }

  // Compute thread: hands the finished job to the JS thread, or frees it where that thread is gone.
  void Deliver(ComputeJob* job) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (closed) {
        delete job;
        return;
      }
      ++calling;
    }
    const napi_status status = napi_call_threadsafe_function(tsfn, job, napi_tsfn_nonblocking);
    {
      std::lock_guard<std::mutex> lock(mutex);
      --calling;
    }
    idle.notify_all();
    if (status != napi_ok) delete job;  // closing: the environment is going away
  }

  // JS thread (env) or the function's teardown (env null: only free the job).
  static void CallJs(napi_env env, napi_value, void* context, void* data) {
    std::unique_ptr<ComputeJob> job(static_cast<ComputeJob*>(data));
    if (env == nullptr) return;
    auto* jobs = static_cast<ComputeJobs*>(context);
    job->Settle(Napi::Env(env));
    job.reset();  // the module's in-flight count drops after the Promise settled, as with AsyncWorker
    if (--jobs->pending == 0) napi_unref_threadsafe_function(env, jobs->tsfn);
  }

  // JS thread, at the environment's teardown: no call into the function after this one.
  static void Finalize(napi_env, void* data, void*) {
    std::unique_ptr<std::shared_ptr<ComputeJobs>> held(static_cast<std::shared_ptr<ComputeJobs>*>(data));
    auto& jobs = **held;
    std::unique_lock<std::mutex> lock(jobs.mutex);
    jobs.closed = true;
    jobs.idle.wait(lock, [&] { return jobs.calling == 0; });
  }
};

ComputeJob::ComputeJob(Napi::Env env, std::string operation, std::shared_ptr<ModuleHandle> module)
    : module_(std::move(module)), operation_(std::move(operation)), deferred_(Napi::Promise::Deferred::New(env)) {
  if (module_) module_->in_flight++;
}

ComputeJob::~ComputeJob() {
  if (module_) module_->in_flight--;
}

Napi::Promise ComputeJob::Post(Napi::Env env, std::unique_ptr<ComputeJob> job) {
  auto jobs = ComputeJobs::For(env);
  Napi::Promise promise = job->deferred_.Promise();
  if (jobs->pending++ == 0) napi_ref_threadsafe_function(env, jobs->tsfn);
  PostToComputeThread([jobs, raw = job.release()] {
    raw->Execute();
    jobs->Deliver(raw);
  });
  return promise;
}

void ComputeJob::Execute() {
  try {
    Run();
  } catch (const std::exception& e) {
    failed_ = true;
    failure_ = Describe(e, operation_);
  } catch (...) {
    failed_ = true;
    failure_ = {operation_ + ": an unknown native failure", kErrTorch};
  }
}

void ComputeJob::Settle(Napi::Env env) {
  // napi calls throw where JS can no longer run (the environment is going away): nothing left to settle then.
  try {
    if (failed_) {
      deferred_.Reject(ToJsError(env, failure_).Value());
      return;
    }
    ResolveWith(deferred_, env, operation_, [&] { return Result(env); });
  } catch (...) {
  }
}

}  // namespace et
