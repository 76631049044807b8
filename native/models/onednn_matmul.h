// The matrix products of CPU inference through oneDNN (../README.md "Inference
// path"), built where oneDNN's headers are found (Debian: libdnnl-dev, the
// library libtorch itself links); without them nothing here serves a call.
//   OneDnnLinear         Linear layers with the weights reordered once into the
//                        layout this CPU's matmul kernel wants ("packed"), instead
//                        of OpenBLAS repacking every weight matrix on every call;
//                        bias, activation and residual in the same primitive.
//   OneDnnBatchedMatmul  attention's two batched products, read in place from
//                        the heads' strided views.
// Both run on libtorch's OpenMP threads. OpenBLAS (Debian's libtorch) has a
// thread pool of its own whose idle workers spin for ~0.1 s after each
// threaded call, taking a core from the next OpenMP GEMM: an inference forward
// that never calls OpenBLAS never wakes them. Which GEMM serves a layer is
// InferenceLinear's rule (inference_path.h).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

namespace et {

// The activations a Linear's epilogue can apply (HF hidden_act names map here).
enum class LinearActivation { kNone, kRelu, kGeluErf, kGeluTanh, kQuickGelu, kSilu };

class OneDnnLinear {
 public:
  // weight [N, K] float32 or bfloat16, bias [N] float32 or bfloat16, on the
  // CPU (a bfloat16 layer runs bfloat16 inputs and outputs, accumulating in
  // float32, with the bias, activation and residual applied in float32 before
  // the one rounding). nullptr where this build has no oneDNN or the tensors
  // do not qualify, and with `only_if_packed` where PacksHere(dtype) is false. The reordered copy is made
  // once, here; where oneDNN takes the weight as it lies, no copy is made and
  // the weight's storage is used.
  static std::shared_ptr<OneDnnLinear> Pack(const torch::Tensor& weight, const torch::Tensor& bias, bool only_if_packed);

  // act(input Wᵀ + b) + residual: input [..., K] contiguous (M rows: every
  // dimension but the last), of the weight's dtype, residual of that dtype
  // with M x N elements (any shape) or undefined -> [..., N]. Undefined where
  // this M has no primitive with the packed layout (the caller falls back to at::addmm).
  virtual torch::Tensor Forward(const torch::Tensor& input, LinearActivation act, const torch::Tensor& residual) = 0;
  virtual ~OneDnnLinear() = default;

  // oneDNN's matmul on this CPU, e.g. "oneDNN 2.6.3 brg:avx512_core, weights
  // packed once" or "oneDNN 2.6.3 gemm:jit, weights repacked every call", or why none.
  static std::string Describe();
  // Whether this CPU's oneDNN matmul for `dtype` (float32 or bfloat16) is
  // brgemm, the kernel that reads weights packed once (float32: AVX-512 and
  // AMX CPUs; bfloat16: AVX512-BF16 and AMX). Elsewhere oneDNN 2.6 runs
  // gemm:jit for float32, which repacks on every call as OpenBLAS does and
  // measured no faster (1x16 queries) to 20% slower (32x128 batches) on an
  // AVX2 EPYC, and a reference kernel for bfloat16.
  static bool PacksHere(c10::ScalarType dtype = c10::ScalarType::Float);
};

// out = scale * (a b) + addend on the CPU: a [B, h, M, K], b [B, h, K, N] and
// out [B, h, M, N] of one dtype (float32 or bfloat16), with any non-negative
// strides (the heads of one QKV output, read in place; out may be a
// transposed view); addend undefined or [B, 1, M or 1, N] contiguous float32
// or out's dtype (the additive attention mask). One primitive per layout, made
// on first use and kept. False where this build has no oneDNN or its kernel
// for these layouts is the reference one (the caller runs ATen's).
bool OneDnnBatchedMatmul(const torch::Tensor& a, const torch::Tensor& b, double scale, const torch::Tensor& addend,
                         torch::Tensor& out);

}  // namespace et
