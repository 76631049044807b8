// The inference-only fast path of the BERT-family forwards: when it applies,
// and the concatenated projection weights it uses.
#pragma once
#include <torch/torch.h>

#include <mutex>
#include <utility>
#include <vector>

namespace et {

// True where a forward may take the fused inference path: grad mode off, the
// module in eval mode, a CPU input and no trace being recorded. Everywhere else
// (training, a forward with grad for gradients w.r.t. inputs, CUDA, tracing)
// the plain per-op path runs, so gradients and traces are exactly as before.
bool UseInferencePath(const torch::nn::Module& module, const torch::Tensor& input);

// Multi-head self-attention for inference, as HF's eager formulation:
// softmax(q kᵀ / sqrt(hd) + mask) v, with q, k, v from one GEMM over the
// stacked [3H, H] weight (rows: query, key, value). The scale and mask are
// folded into the score GEMM, the head split/merge are strided views, the
// softmax runs in place. hidden [B, L, H], mask additive [B or 1, 1, L or 1, L]
// or undefined -> context [B, L, H] (before the output projection).
torch::Tensor SelfAttentionInference(const torch::Tensor& hidden, const torch::Tensor& qkv_weight,
                                     const torch::Tensor& qkv_bias, int64_t heads, const torch::Tensor& mask);

// LayerNorm for inference with float32 statistics: a bfloat16/float16 input is
// normalised in float32 and rounded back once (libtorch 1.13's CPU kernel
// accumulates bfloat16 LayerNorm with ~3x the error of one rounding). A float32
// input goes through the module unchanged.
torch::Tensor LayerNormFloat32(torch::nn::LayerNorm norm, const torch::Tensor& input);

// linear(hidden) + residual for inference, with one pass fewer: the GEMM adds
// into a copy of the residual, then the bias is added in place. Equal to
// (hidden Wᵀ + b) + residual within float rounding (the sums are reordered).
torch::Tensor LinearPlusResidual(const torch::nn::Linear& linear, const torch::Tensor& hidden,
                                 const torch::Tensor& residual);

// Records that parameters were written in a way their version counters miss:
// torch::optim's step() writes through p.data(), a tensor with a counter of its
// own. Every ConcatenatedLinear rebuilds on its next use. Call after each
// optimizer step.
void NoteParametersWritten();

// Weights and biases of several Linear layers with the same input, stacked
// into one [sum(out), in] weight and [sum(out)] bias for inference, so that
// one GEMM replaces several (BERT's query/key/value). Rebuilt when any source
// parameter changes: loadStateDict (copy_) bumps a parameter's version
// counter, to()/set_data and dtype changes give it a new storage, which
// stamp() records; optimizer steps call NoteParametersWritten.
class ConcatenatedLinear {
 public:
  // {weight [sum(out), in], bias [sum(out)]}, current for `parts`. Thread-safe.
  std::pair<torch::Tensor, torch::Tensor> get(const std::vector<torch::nn::Linear>& parts);

 private:
  struct Stamp {
    // Weak: keeps the StorageImpl object (not its memory) alive, so a pointer
    // match cannot come from a freed and reused address.
    c10::weak_intrusive_ptr<c10::StorageImpl> storage;
    int64_t offset;
    int64_t version;
    c10::ScalarType dtype;
    bool operator==(const Stamp& other) const;
  };
  static Stamp stamp(const torch::Tensor& t);

  std::mutex mutex_;
  std::vector<Stamp> stamps_;
  uint64_t generation_ = 0;  // NoteParametersWritten's count when built
  torch::Tensor weight_;
  torch::Tensor bias_;
};

}  // namespace et
