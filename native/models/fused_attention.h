// Self-attention for float32 and bfloat16 CPU inference in one pass per head,
// on AVX-512.
//
// The GEMM path (SelfAttentionInference, inference_path.h) makes three passes
// over a [B, heads, L, L] score tensor: the score product writes it, softmax
// reads and rewrites it, the context product reads it; for a MiniLM batch
// (32x128, head size 32) that is 25 MB per layer, and oneDNN's batched kernel
// runs products with an inner size of 32 far below its peak. Here each (batch
// row, head) transposes its keys once, then takes 12 query rows at a time:
// their scores (12 x L floats, in L1) with the row maxima, exp, and their
// context rows, before the next block. Measured per layer, 2 threads (AVX-512
// EPYC): MiniLM 32x128 7.7 -> 3.6 ms, BERT-base 32x128 10.0 -> 5.5 ms, a
// 16-token query 40 -> 7 µs.
//
// The values are HF's eager formulation's, softmax(q kᵀ * scale + mask) v,
// accumulated in float32: only the order of additions differs from the GEMMs',
// exp is accurate to about 1 ulp, and the softmax's 1 / sum scales each context
// row instead of each probability (max |difference| to float64 ~1e-6 relative,
// as the GEMM path's).
//
// bfloat16: each head's q, k and v are widened to float32 once (a thread-local
// buffer of 4 x L x hd floats), run through the same kernel and the context
// rounded back to bfloat16 once (round to nearest even, as c10::BFloat16), so
// scores, softmax and the context accumulate in float32. Measured per layer:
// MiniLM 32x128 8.9 -> 3.7-6.3 ms (the VM's noise), BERT-base 32x128 10 -> 6.5 ms,
// a 16-token query 130 -> 33 µs; max |error| to float32 attention 0.004 against
// 0.007-0.015 for the bf16 GEMMs.
#pragma once
#include <torch/torch.h>

namespace et {

// Whether this process runs FusedSelfAttention: an x86-64 build with GCC or
// Clang on a CPU with AVX-512 (F, BW, DQ, VL), and EMBEDDINGS_TORCH_ATTENTION
// (read once) not "gemm".
bool FusedAttentionHere();

// What serves float32 and bfloat16 inference attention here (runtimeInfo().inferenceAttention).
std::string DescribeInferenceAttention();

// context[b, i, h*hd .. (h+1)*hd) = softmax(scale * q kᵀ + mask) v for each
// batch row b, head h and query i, with q, k, v the heads of qkv: float32 or
// bfloat16 [B, L, 3H] contiguous (query, key, value; H = heads * hd). mask: additive,
// [B or 1, 1, L or 1, L] (any float dtype), or undefined. context: qkv's dtype,
// [B, L, H] contiguous. False, with nothing written, where it does not apply:
// not FusedAttentionHere(), another dtype, or hd not a multiple of 16 up to 128.
// Runs on ATen's intra-op threads, one (batch row, head) per task.
bool FusedSelfAttention(const torch::Tensor& qkv, int64_t heads, double scale, const torch::Tensor& mask,
                        torch::Tensor& context);

}  // namespace et
