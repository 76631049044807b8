// Mixed precision for one call: autocast to float16/bfloat16 on the device
// the module runs on. Autocast state is thread-local in libtorch, so the
// guard is made on the worker thread that runs the call.
#pragma once
#include <torch/torch.h>

namespace et {

// Whether autocast is on for `device` on this thread (an AutocastGuard's call).
bool AutocastEnabled(c10::DeviceType device);

class AutocastGuard {
 public:
  // No-op when dtype is empty.
  AutocastGuard(c10::optional<c10::ScalarType> dtype, c10::DeviceType device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::kFloat;
};

}  // namespace et
