// LayerNorm for CPU inference, each row in one call of an AVX-512 kernel.
//
// ATen's layer_norm costs ~20 µs for a 16 x 384 query on this addon's small
// forwards (its statistics tensors, dispatch and a parallel region each
// call), and in bfloat16 the detour through a float32 copy adds four
// conversions and allocations: 12% of a float32 MiniLM query and 25% of a
// bfloat16 one went to LayerNorm. Here a row is read three times from L1
// (mean, variance about the mean, normalise) and written once.
//
// The values are LayerNorm's: (x - mean) / sqrt(var + eps) * weight + bias,
// var the biased variance, statistics and the affine step in float32, a
// bfloat16 row widened exactly and the result rounded to bfloat16 once (as
// the float32 detour does). Only the order of additions differs from ATen's.
#pragma once
#include <torch/torch.h>

namespace et {

// out = LayerNorm over the last dimension of input (float32 or bfloat16,
// contiguous, on the CPU) with weight and bias ([D], float32 or bfloat16, or
// undefined: 1 and 0) and eps; out: input's dtype and shape, contiguous. False,
// with nothing written, where it does not apply: a CPU without AVX-512
// (CpuHasAvx512, avx512.h), another dtype or layout, or D = 0.
// Rows run on ATen's intra-op threads for large inputs.
bool FusedLayerNorm(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias, double eps,
                    torch::Tensor& out);

}  // namespace et
