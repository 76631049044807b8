#include "errors.h"

#include <c10/util/Exception.h>

namespace et {

namespace {

bool Contains(const std::string& haystack, const char* needle) {
  return haystack.find(needle) != std::string::npos;
}

// libtorch has few exception types; its messages are stable enough to route
// the common shape and device failures to their own codes.
const char* Classify(const std::string& msg) {
  if (Contains(msg, "CUDA") || Contains(msg, "cuda") || Contains(msg, "Expected all tensors to be on the same device"))
    return kErrDevice;
  if (Contains(msg, "size") || Contains(msg, "shape") || Contains(msg, "dimension") || Contains(msg, "mat1 and mat2"))
    return kErrShape;
  return kErrTorch;
}

}  // namespace

NativeFailure Describe(const std::exception& e, const std::string& operation) {
  std::string msg;
  std::string code;
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) {
    msg = ce->what_without_backtrace();
    code = Classify(msg);
    if (dynamic_cast<const c10::IndexError*>(&e) != nullptr) code = kErrShape;
  } else {
    msg = e.what();
    code = kErrTorch;
  }
  // Our own TORCH_CHECKs tag the code as "[ERR_X] message".
  if (msg.size() > 2 && msg[0] == '[') {
    const auto end = msg.find("] ");
    if (end != std::string::npos && msg.compare(1, 4, "ERR_") == 0) {
      code = msg.substr(1, end - 1);
      msg = msg.substr(end + 2);
    }
  }
  // Trim libtorch's trailing newline and "Exception raised from" lines.
  const auto raised = msg.find("\nException raised from");
  if (raised != std::string::npos) msg.resize(raised);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return {operation.empty() ? msg : operation + ": " + msg, code};
}

Napi::Error ToJsError(Napi::Env env, const NativeFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", Napi::String::New(env, failure.code));
  return error;
}

void Throw(Napi::Env env, const std::string& message, const char* code) {
  throw ToJsError(env, {message, code});
}

}  // namespace et
