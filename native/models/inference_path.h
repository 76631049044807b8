// The inference-only fast path of the BERT-family forwards: when it applies,
// and the concatenated projection weights it uses.
#pragma once
#include <torch/torch.h>

#include "models/onednn_matmul.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace et {

// True where a forward may take the fused inference path: grad mode off, the
// module in eval mode, a CPU input, no trace being recorded and no CPU autocast.
// Everywhere else (training, a forward with grad for gradients w.r.t. inputs,
// CUDA, tracing, `autocast`, whose per-op casts the packed GEMMs would bypass)
// the plain per-op path runs, so gradients, traces and autocast's precision are
// exactly as before.
bool UseInferencePath(const torch::nn::Module& module, const torch::Tensor& input);

// Whether a forward of `input` whose products run in `dtype` (the encoder's
// hidden states) may split them across partner threads (small_forward.h:
// SmallForwardScope): the inference path, with oneDNN's packed GEMMs serving
// that dtype (elsewhere nothing would be split and the partners would spin for
// nothing). BERT and CLIP's text tower open their scope around the whole
// forward, embeddings and pooling included: outside a scope those ATen ops open
// OpenMP regions, each waking a sleeping worker (BERT's pooler on a MiniLM
// query: 97 µs that way, 32 µs inside the scope). The encoders open one too,
// for callers of their own (a nested scope changes nothing).
bool SplitsProducts(const torch::nn::Module& module, const torch::Tensor& input, c10::ScalarType dtype);
inline bool SplitsProducts(const torch::nn::Module& module, const torch::Tensor& hidden) {
  return SplitsProducts(module, hidden, hidden.scalar_type());
}

// An encoder's layers on an inference forward, in chunks of batch rows small
// enough that its widest intermediate ([rows x L, widest] in hidden's dtype)
// stays under glibc's largest mmap threshold (32 MiB, allocator_tuning.h). A
// larger block is mapped fresh for each use unless the heap's top happens to
// hold it, and the kernel zeroes it page by page: a BERT-base 32x128 float32
// batch (GELU output [4096, 3072], 48 MiB) took 118k page faults and 3.1 s
// instead of 2.1 s. Rows are independent in every layer, so the chunks'
// outputs, concatenated, are the whole batch's. `stack` maps hidden [b, L, H]
// and mask (sliced where it has a row per batch row) to [b, L, H]. Outside the
// inference path, or where one chunk holds the batch, stack runs once.
// The widest intermediate per position: the stacked QKV (3 x hidden_size), the
// MLP's (intermediate_size) or the GEMM path's attention scores (heads x L).
torch::Tensor InBatchChunks(const torch::nn::Module& module, const torch::Tensor& hidden, const torch::Tensor& mask,
                            int64_t hidden_size, int64_t intermediate_size, int64_t heads,
                            const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& stack);

// Multi-head self-attention for inference, as HF's eager formulation:
// softmax(q kᵀ / sqrt(hd) + mask) v, from the output of one GEMM over the
// stacked query/key/value weights (see InferenceLinear). The scale and mask
// are folded into the score GEMM, the head split/merge are strided views, the
// softmax runs in place. qkv [B, L, 3H] (query, key, value), mask additive
// [B or 1, 1, L or 1, L] or undefined -> context [B, L, H] (before the output projection).
torch::Tensor SelfAttentionInference(const torch::Tensor& qkv, int64_t heads, const torch::Tensor& mask);

// LayerNorm for inference with float32 statistics: float32 and bfloat16 rows
// through FusedLayerNorm (fused_layer_norm.h) on AVX-512 CPUs; elsewhere a
// bfloat16/float16 input is normalised in float32 and rounded back once
// (libtorch 1.13's CPU kernel accumulates bfloat16 LayerNorm with ~3x the
// error of one rounding) and a float32 input goes through the module.
torch::Tensor LayerNormInference(torch::nn::LayerNorm norm, const torch::Tensor& input);

// Records that parameters were written in a way their version counters miss:
// torch::optim's step() writes through p.data(), a tensor with a counter of its
// own. Every InferenceLinear rebuilds on its next use. Call after each
// optimizer step.
void NoteParametersWritten();

// One or several Linear layers with the same input, for inference:
// act(x Wᵀ + b) + residual, with W and b the parts' weights and biases stacked
// ([sum(out), in], [sum(out)]) so that one GEMM replaces several (BERT's
// query/key/value). The stacked weights and their packed copies are made once
// and rebuilt when any source parameter changes: loadStateDict (copy_) bumps a
// parameter's version counter, to()/set_data and dtype changes give it a new
// storage, which stamp() records; optimizer steps call NoteParametersWritten.
//
// Which GEMM serves it (EMBEDDINGS_TORCH_GEMM, read once; "auto" by default):
//   auto    oneDNN where its matmul reads weights packed once on this CPU
//           (OneDnnLinear::PacksHere: AVX-512/AMX brgemm), else at::addmm
//   onednn  oneDNN for every float32 call, packed or not
//   addmm   at::addmm (OpenBLAS), bias or residual fused, activation in place
// oneDNN applies bias, activation and residual in the same primitive.
class InferenceLinear {
 public:
  // input [..., in] -> [..., sum(out)]; residual [..., sum(out)] or undefined. Thread-safe.
  torch::Tensor forward(const std::vector<torch::nn::Linear>& parts, const torch::Tensor& input,
                        LinearActivation act = LinearActivation::kNone, const torch::Tensor& residual = {});

 private:
  struct Stamp {
    // Weak: keeps the StorageImpl object (not its memory) alive, so a pointer
    // match cannot come from a freed and reused address.
    c10::weak_intrusive_ptr<c10::StorageImpl> storage;
    int64_t offset;
    int64_t version;
    c10::ScalarType dtype;
    bool operator==(const Stamp& other) const;
    bool matches(const torch::Tensor& t) const;  // == stamp(t), without making one
  };
  static Stamp stamp(const torch::Tensor& t);
  struct Weights {
    torch::Tensor weight;                  // [sum(out), in]
    torch::Tensor bias;                    // [sum(out)]
    std::shared_ptr<OneDnnLinear> onednn;  // where chosen: serves every float32 call
  };
  std::shared_ptr<const Weights> weights(const std::vector<torch::nn::Linear>& parts);

  std::mutex mutex_;
  std::vector<Stamp> stamps_;
  uint64_t generation_ = 0;  // NoteParametersWritten's count when built
  std::shared_ptr<const Weights> current_;
};

// What serves InferenceLinear's GEMMs in this process (runtimeInfo().inferenceGemm).
std::string DescribeInferenceGemm();

// An activation in place on y, a temporary of the caller's (the at::addmm path of InferenceLinear).
void ActivateInPlace(LinearActivation act, torch::Tensor& y);

// The activation named by an HF config's hidden_act (BERT's and CLIP's), for an InferenceLinear epilogue.
LinearActivation ActivationNamed(const std::string& hidden_act);

}  // namespace et
