// c10::Error / std::exception -> JS errors.
//
// Every native failure reaches JS as an Error whose message is libtorch's
// what_without_backtrace() prefixed with the operation, and whose `code` says
// which family it belongs to; lib/errors.ts turns codes into classes.
#pragma once
#include <napi.h>

#include <exception>
#include <string>

namespace et {

// Stable codes, mirrored by lib/errors.ts.
constexpr const char* kErrTorch = "ERR_TORCH";            // any libtorch failure
constexpr const char* kErrShape = "ERR_SHAPE";            // sizes/rank mismatch
constexpr const char* kErrDevice = "ERR_DEVICE";          // CUDA missing, wrong device
constexpr const char* kErrCheckpoint = "ERR_CHECKPOINT";  // state dict keys/shapes, files
constexpr const char* kErrDisposed = "ERR_DISPOSED";      // use after dispose()
constexpr const char* kErrBusy = "ERR_BUSY";              // mutation while a call is in flight

// A failure captured on a worker thread (no Napi there), thrown later on the JS thread.
struct NativeFailure {
  std::string message;
  std::string code;
};

// Classifies an exception caught anywhere: message without C++ backtrace, and a code.
NativeFailure Describe(const std::exception& e, const std::string& operation);

// Builds the JS error for a failure (Error, TypeError or RangeError with `code`).
Napi::Error ToJsError(Napi::Env env, const NativeFailure& failure);

// Error with a code, thrown on the JS thread (NAPI_CPP_EXCEPTIONS).
[[noreturn]] void Throw(Napi::Env env, const std::string& message, const char* code);

// Runs `body` on the JS thread, turning libtorch exceptions into JS errors that
// name `operation`. Napi::Error passes through untouched.
template <typename F>
auto Guard(Napi::Env env, const std::string& operation, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw ToJsError(env, Describe(e, operation));
  }
}

// JS thread: resolves `deferred` with make(); where making the value throws
// (a Napi::Error, or a libtorch exception: a typed error naming `operation`),
// rejects it with that error instead. How every async call settles.
template <typename F>
void ResolveWith(Napi::Promise::Deferred& deferred, Napi::Env env, const std::string& operation, F&& make) {
  try {
    deferred.Resolve(make());
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
  } catch (const std::exception& e) {
    deferred.Reject(ToJsError(env, Describe(e, operation)).Value());
  }
}

}  // namespace et
