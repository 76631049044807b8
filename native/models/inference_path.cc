#include "models/inference_path.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <atomic>
#include <cmath>

namespace et {

bool UseInferencePath(const torch::nn::Module& module, const torch::Tensor& input) {
  return !torch::GradMode::is_enabled() && !module.is_training() && input.device().is_cpu() &&
         !torch::jit::tracer::isTracing();
}

torch::Tensor LayerNormFloat32(torch::nn::LayerNorm norm, const torch::Tensor& input) {
  if (input.scalar_type() != torch::kBFloat16 && input.scalar_type() != torch::kHalf) return norm->forward(input);
  const auto& o = norm->options;
  const auto weight = norm->weight.defined() ? norm->weight.to(torch::kFloat) : torch::Tensor();
  const auto bias = norm->bias.defined() ? norm->bias.to(torch::kFloat) : torch::Tensor();
  return at::layer_norm(input.to(torch::kFloat), o.normalized_shape(), weight, bias, o.eps()).to(input.scalar_type());
}

torch::Tensor LinearPlusResidual(const torch::nn::Linear& linear, const torch::Tensor& hidden,
                                 const torch::Tensor& residual) {
  const auto in = hidden.size(-1);
  const auto out = linear->weight.size(0);
  auto sizes = hidden.sizes().vec();
  sizes.back() = out;
  auto y = at::addmm(residual.reshape({-1, out}), hidden.reshape({-1, in}), linear->weight.t());  // [N, out]
  y.add_(linear->bias);
  return y.view(sizes);
}

torch::Tensor SelfAttentionInference(const torch::Tensor& hidden, const torch::Tensor& qkv_weight,
                                     const torch::Tensor& qkv_bias, int64_t heads, const torch::Tensor& mask) {
  const auto batch = hidden.size(0);
  const auto length = hidden.size(1);
  const auto size = hidden.size(2);
  const auto head_dim = size / heads;
  TORCH_CHECK(qkv_weight.size(0) == 3 * size && qkv_weight.size(1) == size, "SelfAttentionInference: weight ",
              qkv_weight.sizes(), " is not [3 * ", size, ", ", size, "]");
  TORCH_CHECK(!mask.defined() || (mask.dim() == 4 && (mask.size(0) == 1 || mask.size(0) == batch)),
              "SelfAttentionInference: mask must be [B or 1, 1, L or 1, L], got ", mask.sizes());
  // One GEMM with the bias fused: [B*L, 3H], viewed as [B, L, 3, nh, hd].
  const auto qkv =
      at::addmm(qkv_bias, hidden.reshape({batch * length, size}), qkv_weight.t()).view({batch, length, 3, heads, head_dim});
  // Strided views [B, nh, L, hd] (rows 3H apart): the batched GEMMs below read them in place.
  const auto q = qkv.select(2, 0).transpose(1, 2);
  const auto k = qkv.select(2, 1).transpose(1, 2);
  const auto v = qkv.select(2, 2).transpose(1, 2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  auto scores = at::empty({batch, heads, length, length}, hidden.options());  // [B, nh, L, L]
  for (int64_t b = 0; b < batch; ++b) {
    auto s = scores.select(0, b);  // [nh, L, L]
    const auto kt = k.select(0, b).transpose(-1, -2);
    // scale * q kᵀ + mask in one GEMM (beta 1 adds the mask, broadcast over heads and, for [.., 1, L], queries).
    if (mask.defined())
      at::baddbmm_out(s, mask.select(0, mask.size(0) == 1 ? 0 : b), q.select(0, b), kt, 1.0, scale);
    else
      at::baddbmm_out(s, s, q.select(0, b), kt, 0.0, scale);
  }
  // Softmax in place (each row is read before it is written); libtorch's CPU
  // kernel accumulates bfloat16 rows in float32.
  at::_softmax_out(scores, scores, -1, false);
  // The context goes straight into [B, L, nh, hd] = [B, L, H] order: no copy after the head transpose.
  auto context = at::empty({batch, length, heads, head_dim}, hidden.options());
  for (int64_t b = 0; b < batch; ++b) {
    auto c = context.select(0, b).transpose(0, 1);  // [nh, L, hd] view
    at::bmm_out(c, scores.select(0, b), v.select(0, b));
  }
  return context.view({batch, length, size});  // [B, L, H]
}

namespace {
std::atomic<uint64_t> parameters_written{0};
}  // namespace

void NoteParametersWritten() { parameters_written.fetch_add(1); }

bool ConcatenatedLinear::Stamp::operator==(const Stamp& other) const {
  return storage._unsafe_get_target() == other.storage._unsafe_get_target() && offset == other.offset &&
         version == other.version && dtype == other.dtype;
}

ConcatenatedLinear::Stamp ConcatenatedLinear::stamp(const torch::Tensor& t) {
  return Stamp{t.storage().getWeakStorageImpl(), t.storage_offset(),
               t._version(), t.scalar_type()};
}

std::pair<torch::Tensor, torch::Tensor> ConcatenatedLinear::get(const std::vector<torch::nn::Linear>& parts) {
  std::vector<torch::Tensor> weights;
  std::vector<torch::Tensor> biases;
  bool versioned = true;  // an inference tensor (made under c10::InferenceMode) has no version counter
  for (const auto& p : parts) {
    TORCH_CHECK(p->bias.defined(), "ConcatenatedLinear: every part needs a bias");
    weights.push_back(p->weight);
    biases.push_back(p->bias);
    versioned = versioned && !p->weight.is_inference() && !p->bias.is_inference();
  }
  torch::NoGradGuard no_grad;
  if (!versioned) return {torch::cat(weights, 0), torch::cat(biases, 0)};  // never cached
  std::vector<Stamp> now;
  for (size_t i = 0; i < parts.size(); ++i) {
    now.push_back(stamp(weights[i]));
    now.push_back(stamp(biases[i]));
  }
  const uint64_t generation = parameters_written.load();
  std::lock_guard<std::mutex> lock(mutex_);
  if (now != stamps_ || generation != generation_ || !weight_.defined()) {
    weight_ = torch::cat(weights, 0);  // [sum(out), in]
    bias_ = torch::cat(biases, 0);     // [sum(out)]
    stamps_ = std::move(now);
    generation_ = generation;
  }
  return {weight_, bias_};
}

}  // namespace et
