// Linear layers for CPU inference through oneDNN with the weights reordered
// once into the layout this CPU's matmul kernel wants ("packed"), instead of
// OpenBLAS repacking every weight matrix on every call (which dominates a
// single short query: ../README.md "CPU inference path"). Bias, activation and
// residual run in the same primitive. Built where oneDNN's headers are found
// (Debian: libdnnl-dev, the library libtorch itself links); without them
// Pack returns nullptr. Which GEMM serves a layer is InferenceLinear's rule
// (inference_path.h).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

namespace et {

// The activations a Linear's epilogue can apply (HF hidden_act names map here).
enum class LinearActivation { kNone, kRelu, kGeluErf, kGeluTanh, kQuickGelu, kSilu };

class OneDnnLinear {
 public:
  // weight [N, K], bias [N]: both float32 on the CPU. nullptr where this
  // build has no oneDNN or the tensors do not qualify, and with
  // `only_if_packed` where PacksHere() is false. The reordered copy is made
  // once, here; where oneDNN takes the weight as it lies, no copy is made and
  // the weight's storage is used.
  static std::shared_ptr<OneDnnLinear> Pack(const torch::Tensor& weight, const torch::Tensor& bias, bool only_if_packed);

  // act(input Wᵀ + b) + residual: input [M, K] float32 contiguous, residual
  // [M, N] or undefined -> [M, N]. Undefined where this M has no primitive
  // with the packed layout (the caller falls back to at::addmm).
  virtual torch::Tensor Forward(const torch::Tensor& input, LinearActivation act, const torch::Tensor& residual) = 0;
  virtual ~OneDnnLinear() = default;

  // oneDNN's matmul on this CPU, e.g. "oneDNN 2.6.3 brg:avx512_core, weights
  // packed once" or "oneDNN 2.6.3 gemm:jit, weights repacked every call", or why none.
  static std::string Describe();
  // Whether this CPU's oneDNN matmul is brgemm, the kernel that reads weights
  // packed once (AVX-512 and AMX CPUs). Elsewhere oneDNN 2.6 runs gemm:jit,
  // which repacks on every call as OpenBLAS does and measured no faster
  // (1x16 queries) to 20% slower (32x128 batches) on an AVX2 EPYC.
  static bool PacksHere();
};

}  // namespace et
