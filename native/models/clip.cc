#include "models/clip.h"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "models/registry.h"
#include "small_forward.h"

namespace et {

namespace {

const std::set<std::string>& Activations() {
  static const std::set<std::string> names{"quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu"};
  return names;
}

// Hugging Face's ACT2FN for the activations CLIP checkpoints use. The name was
// checked at construction, so this branch is on configuration, not on values.
torch::Tensor Activate(const std::string& name, const torch::Tensor& x) {
  if (name == "quick_gelu") return x * torch::sigmoid(1.702 * x);  // OpenAI CLIP's approximation
  if (name == "gelu") return torch::gelu(x);                       // exact (erf)
  if (name == "relu") return torch::relu(x);
  if (name == "silu") return torch::silu(x);
  return torch::gelu(x, "tanh");  // gelu_new, gelu_pytorch_tanh
}

}  // namespace

void ReadEncoderOptions(const ModelOptions& from, CLIPEncoderOptions& into) {
  into.hidden_size(from.integer("hidden_size", into.hidden_size()));
  into.intermediate_size(from.integer("intermediate_size", into.intermediate_size()));
  into.num_hidden_layers(from.integer("num_hidden_layers", into.num_hidden_layers()));
  into.num_attention_heads(from.integer("num_attention_heads", into.num_attention_heads()));
  into.hidden_act(from.string("hidden_act", into.hidden_act()));
  into.layer_norm_eps(from.number("layer_norm_eps", into.layer_norm_eps()));
  into.attention_dropout(from.number("attention_dropout", into.attention_dropout()));
  into.projection_dim(from.integer("projection_dim", into.projection_dim()));
  into.output(from.string("output", into.output()));
}

void CheckEncoderOptions(const CLIPEncoderOptions& o, const char* tower) {
  TORCH_CHECK(o.hidden_size() > 0 && o.intermediate_size() > 0 && o.num_hidden_layers() > 0 &&
                  o.num_attention_heads() > 0 && o.projection_dim() > 0,
              tower, ": hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and projection_dim "
              "must be positive");
  TORCH_CHECK(o.hidden_size() % o.num_attention_heads() == 0, tower, ": num_attention_heads (",
              o.num_attention_heads(), ") must divide hidden_size (", o.hidden_size(), ")");
  TORCH_CHECK(Activations().count(o.hidden_act()) == 1, tower, ": hidden_act \"", o.hidden_act(),
              "\" is not supported; use quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, relu or silu");
  TORCH_CHECK(o.output() == "embeds" || o.output() == "pooler_output", tower, ": output must be \"embeds\" or "
              "\"pooler_output\", got \"", o.output(), "\"");
  TORCH_CHECK(o.layer_norm_eps() > 0, tower, ": layer_norm_eps must be positive, got ", o.layer_norm_eps());
  TORCH_CHECK(o.attention_dropout() >= 0 && o.attention_dropout() < 1, tower,
              ": attention_dropout must lie in [0, 1), got ", o.attention_dropout());
}

CLIPAttentionImpl::CLIPAttentionImpl(const CLIPEncoderOptions& options_) : options(options_) { reset(); }

void CLIPAttentionImpl::reset() {
  const int64_t d = options.hidden_size();
  // Registration order = HF's attribute order, so named_parameters() lists like the checkpoint's model.
  k_proj = register_module("k_proj", torch::nn::Linear(d, d));
  v_proj = register_module("v_proj", torch::nn::Linear(d, d));
  q_proj = register_module("q_proj", torch::nn::Linear(d, d));
  out_proj = register_module("out_proj", torch::nn::Linear(d, d));
}

// No batch or length taken from .size() here or in the towers: libtorch's
// tracer records such ints as constants, and a traced model would then only
// accept the example's batch size. unflatten/flatten/expand_as keep them symbolic.
torch::Tensor CLIPAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  if (UseInferencePath(*this, hidden)) {
    const auto qkv = qkv_.forward({q_proj, k_proj, v_proj}, hidden);  // [B, L, 3H]
    return out_proj_.forward({out_proj}, SelfAttentionInference(qkv, options.num_attention_heads(), mask));
  }
  const int64_t heads = options.num_attention_heads(), head_dim = options.hidden_size() / heads;
  auto split = [&](const torch::Tensor& x) { return x.unflatten(-1, {heads, head_dim}).transpose(1, 2); };
  const auto q = split(q_proj->forward(hidden));  // [B, H, L, hd]
  const auto k = split(k_proj->forward(hidden));
  const auto v = split(v_proj->forward(hidden));
  const double dropout = is_training() ? options.attention_dropout() : 0.0;
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels on libtorch 2.x; the default scale is head_dim^-0.5, as in HF.
  const c10::optional<torch::Tensor> attn_mask = mask.defined() ? c10::optional<torch::Tensor>(mask) : c10::nullopt;
  auto context = at::scaled_dot_product_attention(q, k, v, attn_mask, dropout, /*is_causal=*/false);
#else
  // libtorch 1.13 has no fused attention: HF's eager formulation, same order of operations.
  auto scores = torch::matmul(q, k.transpose(-1, -2)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  if (mask.defined()) scores = scores + mask;                    // [B, H, L, L]
  auto probs = torch::dropout(torch::softmax(scores, -1), dropout, is_training());
  auto context = torch::matmul(probs, v);                        // [B, H, L, hd]
#endif
  context = context.transpose(1, 2).flatten(2);  // [B, L, D]
  return out_proj->forward(context);  // [B, L, D]
}

CLIPMLPImpl::CLIPMLPImpl(const CLIPEncoderOptions& options_) : options(options_) { reset(); }

void CLIPMLPImpl::reset() {
  fc1 = register_module("fc1", torch::nn::Linear(options.hidden_size(), options.intermediate_size()));
  fc2 = register_module("fc2", torch::nn::Linear(options.intermediate_size(), options.hidden_size()));
}

torch::Tensor CLIPMLPImpl::forward(const torch::Tensor& hidden) {
  if (UseInferencePath(*this, hidden))  // hidden_act in fc1's epilogue (in place)
    return fc2_.forward({fc2}, fc1_.forward({fc1}, hidden, ActivationNamed(options.hidden_act())));
  return fc2->forward(Activate(options.hidden_act(), fc1->forward(hidden)));  // [B, L, D]
}

CLIPEncoderLayerImpl::CLIPEncoderLayerImpl(const CLIPEncoderOptions& options_) : options(options_) { reset(); }

void CLIPEncoderLayerImpl::reset() {
  const auto norm = torch::nn::LayerNormOptions({options.hidden_size()}).eps(options.layer_norm_eps());
  self_attn = register_module("self_attn", CLIPAttention(options));
  layer_norm1 = register_module("layer_norm1", torch::nn::LayerNorm(norm));
  mlp = register_module("mlp", CLIPMLP(options));
  layer_norm2 = register_module("layer_norm2", torch::nn::LayerNorm(norm));
}

torch::Tensor CLIPEncoderLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  if (UseInferencePath(*this, hidden)) {
    // The residual sums added in place into the sublayers' fresh outputs: a + b
    // is b + a in floating point, so the values are the exact path's.
    auto h = self_attn->forward(LayerNormInference(layer_norm1, hidden), mask).add_(hidden);  // [B, L, D]
    return mlp->forward(LayerNormInference(layer_norm2, h)).add_(h);
  }
  auto h = hidden + self_attn->forward(layer_norm1->forward(hidden), mask);  // [B, L, D]
  return h + mlp->forward(layer_norm2->forward(h));
}

CLIPEncoderImpl::CLIPEncoderImpl(const CLIPEncoderOptions& options_) : options(options_) { reset(); }

void CLIPEncoderImpl::reset() {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_hidden_layers(); ++i) layers->push_back(CLIPEncoderLayer(options));
}

torch::Tensor CLIPEncoderImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask) {
  const auto& o = options;
  return InBatchChunks(*this, hidden, mask, o.hidden_size(), o.intermediate_size(), o.num_attention_heads(),
                       [&](const torch::Tensor& rows, const torch::Tensor& rows_mask) {
    // A query-sized forward splits its products across partner threads instead of OpenMP's (small_forward.h).
    SmallForwardScope small(SplitsProducts(*this, rows), rows.numel() / std::max<int64_t>(rows.size(-1), 1));
    auto h = rows;
    for (const auto& layer : *layers) h = layer->as<CLIPEncoderLayer>()->forward(h, rows_mask);
    return h;  // [B, L, D]
  });
}

}  // namespace et
