#include "autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

// libtorch 2.4 replaced the per-backend setters with ones taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define ET_AUTOCAST_BY_DEVICE 1
#endif

namespace et {

namespace {

bool IsEnabled(c10::DeviceType device) {
#ifdef ET_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void SetEnabled(c10::DeviceType device, bool on) {
#ifdef ET_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(device, on);
#else
  if (device == c10::kCUDA) at::autocast::set_enabled(on);
  else at::autocast::set_cpu_enabled(on);
#endif
}

c10::ScalarType GetDType(c10::DeviceType device) {
#ifdef ET_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(device);
#else
  return device == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void SetDType(c10::DeviceType device, c10::ScalarType dtype) {
#ifdef ET_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == c10::kCUDA) at::autocast::set_autocast_gpu_dtype(dtype);
  else at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

}  // namespace

bool AutocastEnabled(c10::DeviceType device) { return IsEnabled(device); }

AutocastGuard::AutocastGuard(c10::optional<c10::ScalarType> dtype, c10::DeviceType device) : device_(device) {
  if (!dtype) return;
  TORCH_CHECK(*dtype == c10::kHalf || *dtype == c10::kBFloat16, "autocast dtype must be float16 or bfloat16");
  TORCH_CHECK(device == c10::kCUDA || device == c10::kCPU, "autocast runs on cpu or cuda modules");
  previous_enabled_ = IsEnabled(device);
  previous_dtype_ = GetDType(device);
  SetEnabled(device, true);
  SetDType(device, *dtype);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Casts are cached per autocast region: drop them when the outermost region ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetEnabled(device_, previous_enabled_);
  SetDType(device_, previous_dtype_);
}

}  // namespace et
