// Linear layers for CPU inference through oneDNN with the weights reordered
// once into the layout this CPU's matmul kernel wants ("packed"), instead of
// OpenBLAS repacking every weight matrix on every call (which dominates a
// single short query: ../README.md "CPU inference path"). Bias, activation and
// residual run in the same primitive. Built where oneDNN's headers are found
// (Debian: libdnnl-dev, the library libtorch itself links); without them, or
// with EMBEDDINGS_TORCH_ONEDNN=0 in the environment, Pack returns nullptr and
// callers use at::addmm.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

namespace et {

// The activations a Linear's epilogue can apply (HF hidden_act names map here).
enum class LinearActivation { kNone, kRelu, kGeluErf, kGeluTanh };

class OneDnnLinear {
 public:
  // weight [N, K], bias [N]: both float32 on the CPU. nullptr where this
  // build has no oneDNN, it is switched off, or the tensors do not qualify.
  // The packed copy is made once, here; when oneDNN takes the weight as it
  // lies, no copy is made and the weight's storage is used.
  static std::shared_ptr<OneDnnLinear> Pack(const torch::Tensor& weight, const torch::Tensor& bias);

  // act(input Wᵀ + b) + residual: input [M, K] float32 contiguous, residual
  // [M, N] or undefined -> [M, N]. Undefined where this M has no primitive
  // with the packed layout (the caller falls back to at::addmm).
  virtual torch::Tensor Forward(const torch::Tensor& input, LinearActivation act, const torch::Tensor& residual) = 0;
  virtual ~OneDnnLinear() = default;

  // What serves inference GEMMs in this process, e.g. "oneDNN 2.6.3 gemm:jit
  // (weights packed once)", or why not oneDNN ("not built: ...", "off: ...").
  static std::string Describe();
};

}  // namespace et
