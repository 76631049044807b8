// What the hand-written AVX-512 kernels (fused_attention.h, fused_layer_norm.h)
// share: the compile-time guard, the run-time CPU check, lane masks and
// bfloat16 <-> float32 conversion of 16 lanes.
//
// The kernels are compiled for AVX-512 function by function (ET_AVX512 target
// attributes), so the rest of the addon keeps the baseline ISA and no file
// needs special flags in CMake or node-gyp; CpuHasAvx512() is checked before
// any of them runs.
#pragma once
#include <cstdint>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define ET_HAS_AVX512_KERNELS 1
#include <immintrin.h>
#define ET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#endif

namespace et {

// Whether this CPU runs the kernels: AVX-512 F, BW, DQ and VL, in a build that has them.
inline bool CpuHasAvx512() {
#ifdef ET_HAS_AVX512_KERNELS
  static const bool here = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }();
  return here;
#else
  return false;
#endif
}

// bfloat16 as its bits (c10::BFloat16's layout): the high half of a float32.
using Bf16 = uint16_t;

#ifdef ET_HAS_AVX512_KERNELS

// Lanes [0, remaining) of a 16-float vector; none where remaining <= 0.
ET_AVX512 inline __mmask16 Lanes(int64_t remaining) {
  if (remaining <= 0) return 0;
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

// 16 bfloat16 values (the lanes in `lanes`, others 0) as float32, exactly.
ET_AVX512 inline __m512 LoadBf16(const Bf16* from, __mmask16 lanes) {
  const __m256i bits = _mm256_maskz_loadu_epi16(lanes, from);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

// The lanes in `lanes` of v rounded to bfloat16 as c10::BFloat16 rounds (to
// nearest, ties to even; NaN to the quiet NaN 0x7FC0), stored at `to`.
ET_AVX512 inline void StoreBf16(Bf16* to, __m512 v, __mmask16 lanes) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  rounded = _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7FC0));
  _mm256_mask_storeu_epi16(to, lanes, _mm512_cvtepi32_epi16(rounded));
}

#endif  // ET_HAS_AVX512_KERNELS

}  // namespace et
