#include "models/fused_layer_norm.h"

#include "models/avx512.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace et {

#ifdef ET_HAS_AVX512_KERNELS
namespace {

template <typename T>
ET_AVX512 inline __m512 Load(const T* from, __mmask16 lanes) {
  if constexpr (std::is_same_v<T, float>)
    return _mm512_maskz_loadu_ps(lanes, from);
  else
    return LoadBf16(from, lanes);
}

template <typename T>
ET_AVX512 inline void Store(T* to, __m512 v, __mmask16 lanes) {
  if constexpr (std::is_same_v<T, float>)
    _mm512_mask_storeu_ps(to, lanes, v);
  else
    StoreBf16(to, v, lanes);
}

// One row of d values; weight and bias float32 [d] or nullptr.
template <typename T>
ET_AVX512 void NormRow(const T* x, T* y, int64_t d, const float* weight, const float* bias, float eps) {
  __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 32 <= d; c += 32) {
    a = _mm512_add_ps(a, Load(x + c, 0xFFFF));
    b = _mm512_add_ps(b, Load(x + c + 16, 0xFFFF));
  }
  for (; c < d; c += 16) a = _mm512_add_ps(a, Load(x + c, Lanes(d - c)));
  const float mean = _mm512_reduce_add_ps(_mm512_add_ps(a, b)) / static_cast<float>(d);
  const __m512 m = _mm512_set1_ps(mean);
  a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  for (c = 0; c + 32 <= d; c += 32) {
    const __m512 u = _mm512_sub_ps(Load(x + c, 0xFFFF), m);
    const __m512 v = _mm512_sub_ps(Load(x + c + 16, 0xFFFF), m);
    a = _mm512_fmadd_ps(u, u, a);
    b = _mm512_fmadd_ps(v, v, b);
  }
  for (; c < d; c += 16) {
    const __mmask16 lanes = Lanes(d - c);
    const __m512 u = _mm512_maskz_sub_ps(lanes, Load(x + c, lanes), m);  // lanes past d stay 0
    a = _mm512_fmadd_ps(u, u, a);
  }
  const float variance = _mm512_reduce_add_ps(_mm512_add_ps(a, b)) / static_cast<float>(d);
  const __m512 r = _mm512_set1_ps(1.0f / std::sqrt(variance + eps));
  for (c = 0; c < d; c += 16) {
    const __mmask16 lanes = Lanes(d - c);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(Load(x + c, lanes), m), r);
    if (weight != nullptr) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(lanes, weight + c));
    if (bias != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(lanes, bias + c));
    Store(y + c, v, lanes);
  }
}

template <typename T>
void AllRows(const T* x, T* y, int64_t rows, int64_t d, const float* weight, const float* bias, float eps) {
  // About 64 KB of rows per task: a query's rows run inline, a batch's on every intra-op thread.
  const int64_t grain = std::max<int64_t>(1, 16384 / d);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) NormRow(x + i * d, y + i * d, d, weight, bias, eps);
  });
}

// A [d] parameter as float32: its own data, or widened into `storage`; nullptr where undefined.
const float* AsFloat(const torch::Tensor& parameter, std::vector<float>& storage) {
  if (!parameter.defined()) return nullptr;
  if (parameter.scalar_type() == torch::kFloat) return parameter.data_ptr<float>();
  const auto* bits = reinterpret_cast<const Bf16*>(parameter.data_ptr<at::BFloat16>());
  storage.resize(static_cast<size_t>(parameter.numel()));
  for (size_t i = 0; i < storage.size(); ++i) {
    const uint32_t wide = static_cast<uint32_t>(bits[i]) << 16;
    std::memcpy(&storage[i], &wide, sizeof(float));
  }
  return storage.data();
}

}  // namespace
#endif  // ET_HAS_AVX512_KERNELS

bool FusedLayerNorm(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias, double eps,
                    torch::Tensor& out) {
#ifdef ET_HAS_AVX512_KERNELS
  const auto dtype = input.scalar_type();
  if (!CpuHasAvx512() || (dtype != torch::kFloat && dtype != torch::kBFloat16) || !input.device().is_cpu() ||
      input.dim() == 0 || !input.is_contiguous())
    return false;
  const int64_t d = input.size(-1);
  if (d == 0) return false;
  for (const auto* p : {&weight, &bias})
    if (p->defined() && (!p->device().is_cpu() || p->dim() != 1 || p->size(0) != d || !p->is_contiguous() ||
                         (p->scalar_type() != torch::kFloat && p->scalar_type() != torch::kBFloat16)))
      return false;
  if (out.scalar_type() != dtype || !out.device().is_cpu() || !out.is_contiguous() || out.sizes() != input.sizes())
    return false;
  const int64_t rows = input.numel() / d;
  if (rows == 0) return true;
  thread_local std::vector<float> weight_storage, bias_storage;  // no allocation per call once grown
  const float* w = AsFloat(weight, weight_storage);
  const float* b = AsFloat(bias, bias_storage);
  const auto e = static_cast<float>(eps);
  if (dtype == torch::kFloat)
    AllRows(input.data_ptr<float>(), out.data_ptr<float>(), rows, d, w, b, e);
  else
    AllRows(reinterpret_cast<const Bf16*>(input.data_ptr<at::BFloat16>()),
            reinterpret_cast<Bf16*>(out.data_ptr<at::BFloat16>()), rows, d, w, b, e);
  return true;
#else
  (void)input, (void)weight, (void)bias, (void)eps, (void)out;
  return false;
#endif
}

}  // namespace et
