#include "models/inference_path.h"

#include "autocast.h"
#include "models/avx512.h"
#include "models/fused_attention.h"
#include "models/fused_layer_norm.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <cmath>

namespace et {

namespace {
bool OneDnnServes(c10::ScalarType dtype);
}  // namespace

bool UseInferencePath(const torch::nn::Module& module, const torch::Tensor& input) {
  return !torch::GradMode::is_enabled() && !module.is_training() && input.device().is_cpu() &&
         !torch::jit::tracer::isTracing() && !AutocastEnabled(c10::kCPU);
}

bool SplitsProducts(const torch::nn::Module& module, const torch::Tensor& input, c10::ScalarType dtype) {
  return UseInferencePath(module, input) && OneDnnServes(dtype) && OneDnnLinear::PacksHere(dtype);
}

torch::Tensor InBatchChunks(const torch::nn::Module& module, const torch::Tensor& hidden, const torch::Tensor& mask,
                            int64_t hidden_size, int64_t intermediate_size, int64_t heads,
                            const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& stack) {
  // glibc's largest mmap threshold, less room for its chunk header and the allocator's alignment.
  constexpr int64_t kBytes = (int64_t{32} << 20) - (int64_t{1} << 20);
  if (!UseInferencePath(module, hidden) || hidden.dim() != 3) return stack(hidden, mask);
  const int64_t widest = std::max({3 * hidden_size, intermediate_size, heads * hidden.size(1)});
  const int64_t batch = hidden.size(0);
  const int64_t per_row = hidden.size(1) * widest * static_cast<int64_t>(hidden.element_size());
  const int64_t fits = std::max<int64_t>(1, kBytes / std::max<int64_t>(per_row, 1));
  if (fits >= batch) return stack(hidden, mask);
  const int64_t chunks = (batch + fits - 1) / fits;
  const int64_t rows = (batch + chunks - 1) / chunks;  // even chunks: 32 rows that fit 20 go as 16 + 16
  const bool per_batch_row = mask.defined() && mask.size(0) == batch && batch > 1;
  std::vector<torch::Tensor> outputs;
  for (int64_t first = 0; first < batch; first += rows) {
    const int64_t n = std::min(rows, batch - first);
    outputs.push_back(stack(hidden.narrow(0, first, n).contiguous(), per_batch_row ? mask.narrow(0, first, n) : mask));
  }
  return torch::cat(outputs, 0);
}

torch::Tensor LayerNormInference(torch::nn::LayerNorm norm, const torch::Tensor& input) {
  const auto& o = norm->options;
  const bool last_dimension = o.normalized_shape().size() == 1 && input.dim() > 0 && o.normalized_shape()[0] == input.size(-1);
  if (last_dimension && CpuHasAvx512()) {
    auto out = at::empty_like(input, at::MemoryFormat::Contiguous);
    if (FusedLayerNorm(input, norm->weight, norm->bias, o.eps(), out)) return out;
  }
  if (input.scalar_type() != torch::kBFloat16 && input.scalar_type() != torch::kHalf) return norm->forward(input);
  const auto weight = norm->weight.defined() ? norm->weight.to(torch::kFloat) : torch::Tensor();
  const auto bias = norm->bias.defined() ? norm->bias.to(torch::kFloat) : torch::Tensor();
  return at::layer_norm(input.to(torch::kFloat), o.normalized_shape(), weight, bias, o.eps()).to(input.scalar_type());
}

torch::Tensor SelfAttentionInference(const torch::Tensor& qkv_out, int64_t heads, const torch::Tensor& mask) {
  TORCH_CHECK(qkv_out.dim() == 3 && qkv_out.size(2) % (3 * heads) == 0, "SelfAttentionInference: qkv ",
              qkv_out.sizes(), " is not [B, L, 3 * H] with H a multiple of ", heads, " heads");
  const auto batch = qkv_out.size(0);
  const auto length = qkv_out.size(1);
  const auto size = qkv_out.size(2) / 3;
  const auto head_dim = size / heads;
  TORCH_CHECK(!mask.defined() || (mask.dim() == 4 && (mask.size(0) == 1 || mask.size(0) == batch)),
              "SelfAttentionInference: mask must be [B or 1, 1, L or 1, L], got ", mask.sizes());
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  // float32 and bfloat16 on AVX-512: each head in one pass, its scores never leaving the cache (fused_attention.h).
  if ((qkv_out.scalar_type() == torch::kFloat || qkv_out.scalar_type() == torch::kBFloat16) && FusedAttentionHere()) {
    auto context = at::empty({batch, length, size}, qkv_out.options());
    if (FusedSelfAttention(qkv_out, heads, scale, mask, context)) return context;
  }
  // [B, L, 3H] viewed as [B, L, 3, nh, hd] (after the fused kernel: a query's forward made these
  // seven views per layer for nothing, each an ATen call).
  const auto qkv = qkv_out.view({batch, length, 3, heads, head_dim});
  // Strided views [B, nh, L, hd] (rows 3H apart): the batched GEMMs below read them in place.
  const auto q = qkv.select(2, 0).transpose(1, 2);
  const auto k = qkv.select(2, 1).transpose(1, 2);
  const auto v = qkv.select(2, 2).transpose(1, 2);
  // Where oneDNN serves this dtype, each product is one oneDNN call over every
  // batch row and head, the scale and mask in the first one's epilogue (a mask
  // shared by the batch is expanded: oneDNN broadcasts it in a reference kernel).
  const bool onednn = OneDnnServes(qkv_out.scalar_type());
  auto scores = at::empty({batch, heads, length, length}, qkv_out.options());  // [B, nh, L, L]
  const auto shared = mask.defined() && mask.size(0) != batch ? mask.expand({batch, -1, -1, -1}).contiguous() : mask;
  if (!onednn || !OneDnnBatchedMatmul(q, k.transpose(-1, -2), scale, shared.defined() ? shared.contiguous() : shared, scores)) {
    // Zeros where no mask is added: baddbmm with beta 0 may still read (0 * NaN) what at::empty left there.
    if (!mask.defined()) scores.zero_();
    for (int64_t b = 0; b < batch; ++b) {
      auto s = scores.select(0, b);  // [nh, L, L]
      const auto kt = k.select(0, b).transpose(-1, -2);
      // scale * q kᵀ + mask in one GEMM (beta 1 adds the mask, broadcast over heads and, for [.., 1, L], queries).
      if (mask.defined())
        at::baddbmm_out(s, mask.select(0, mask.size(0) == 1 ? 0 : b), q.select(0, b), kt, 1.0, scale);
      else
        at::baddbmm_out(s, s, q.select(0, b), kt, 0.0, scale);
    }
  }
  // Softmax in place (each row is read before it is written); libtorch's CPU
  // kernel accumulates bfloat16 rows in float32.
  at::_softmax_out(scores, scores, -1, false);
  // The context goes straight into [B, L, nh, hd] = [B, L, H] order: no copy after the head transpose.
  auto context = at::empty({batch, length, heads, head_dim}, qkv_out.options());
  auto heads_view = context.transpose(1, 2);  // [B, nh, L, hd] view
  if (!onednn || !OneDnnBatchedMatmul(scores, v, 1.0, {}, heads_view)) {
    for (int64_t b = 0; b < batch; ++b) {
      auto c = heads_view.select(0, b);  // [nh, L, hd] view
      at::bmm_out(c, scores.select(0, b), v.select(0, b));
    }
  }
  return context.view({batch, length, size});  // [B, L, H]
}

namespace {
std::atomic<uint64_t> parameters_written{0};

enum class GemmMode { kAuto, kOneDnn, kAddmm };

// EMBEDDINGS_TORCH_GEMM, read once (setenv from JS may race a later read); an
// unknown value means auto, and DescribeInferenceGemm says so.
std::pair<GemmMode, std::string> ModeFromEnvironment() {
  static const std::pair<GemmMode, std::string> mode = []() -> std::pair<GemmMode, std::string> {
    const char* value = std::getenv("EMBEDDINGS_TORCH_GEMM");
    const std::string v = value == nullptr ? "" : value;
    if (v.empty() || v == "auto") return {GemmMode::kAuto, ""};
    if (v == "onednn") return {GemmMode::kOneDnn, ""};
    if (v == "addmm") return {GemmMode::kAddmm, ""};
    return {GemmMode::kAuto, "EMBEDDINGS_TORCH_GEMM=" + v + " is not auto, onednn or addmm: auto; "};
  }();
  return mode;
}

// Whether oneDNN runs the inference products of `dtype` (InferenceLinear's
// rule, which attention follows so that a forward on oneDNN never wakes
// OpenBLAS's thread pool).
bool OneDnnServes(c10::ScalarType dtype) {
  switch (ModeFromEnvironment().first) {
    case GemmMode::kAddmm:
      return false;
    case GemmMode::kOneDnn:
      return dtype == torch::kFloat || OneDnnLinear::PacksHere(dtype);
    case GemmMode::kAuto:
      break;
  }
  return OneDnnLinear::PacksHere(dtype);
}
}  // namespace

std::string DescribeInferenceGemm() {
  const auto [mode, note] = ModeFromEnvironment();
  const auto onednn = OneDnnLinear::Describe();
  switch (mode) {
    case GemmMode::kOneDnn:
      return note + onednn + " (EMBEDDINGS_TORCH_GEMM=onednn)";
    case GemmMode::kAddmm:
      return note + "at::addmm (EMBEDDINGS_TORCH_GEMM=addmm)";
    case GemmMode::kAuto:
      break;
  }
  return note + (OneDnnLinear::PacksHere() ? onednn : "at::addmm; " + onednn + ": not used, it packs nothing here");
}

void NoteParametersWritten() { parameters_written.fetch_add(1); }

bool InferenceLinear::Stamp::operator==(const Stamp& other) const {
  return storage._unsafe_get_target() == other.storage._unsafe_get_target() && offset == other.offset &&
         version == other.version && dtype == other.dtype;
}

InferenceLinear::Stamp InferenceLinear::stamp(const torch::Tensor& t) {
  return Stamp{t.storage().getWeakStorageImpl(), t.storage_offset(), t._version(), t.scalar_type()};
}

bool InferenceLinear::Stamp::matches(const torch::Tensor& t) const {
  const auto* impl = t.unsafeGetTensorImpl();
  return storage._unsafe_get_target() == impl->storage().unsafeGetStorageImpl() && offset == impl->storage_offset() &&
         version == t._version() && dtype == t.scalar_type();
}

std::shared_ptr<const InferenceLinear::Weights> InferenceLinear::weights(const std::vector<torch::nn::Linear>& parts) {
  {
    // Unchanged since the last call (every call of a forward but the first):
    // compared in place, without building stamps (vectors, reference counts).
    std::lock_guard<std::mutex> lock(mutex_);
    bool same = current_ && generation_ == parameters_written.load() && stamps_.size() == 2 * parts.size();
    for (size_t i = 0; same && i < parts.size(); ++i) {
      const auto& p = parts[i];
      same = p->bias.defined() && !p->weight.is_inference() && !p->bias.is_inference() &&  // no version to compare
             stamps_[2 * i].matches(p->weight) && stamps_[2 * i + 1].matches(p->bias);
    }
    if (same) return current_;
  }
  std::vector<torch::Tensor> weights;
  std::vector<torch::Tensor> biases;
  bool versioned = true;  // an inference tensor (made under c10::InferenceMode) has no version counter
  for (const auto& p : parts) {
    TORCH_CHECK(p->bias.defined(), "InferenceLinear: every part needs a bias");
    weights.push_back(p->weight);
    biases.push_back(p->bias);
    versioned = versioned && !p->weight.is_inference() && !p->bias.is_inference();
  }
  torch::NoGradGuard no_grad;
  auto stack = [](const std::vector<torch::Tensor>& ts) { return ts.size() == 1 ? ts[0] : torch::cat(ts, 0); };
  if (!versioned) {  // never cached, so never packed (packing per call would cost more than it saves)
    auto made = std::make_shared<Weights>();
    made->weight = stack(weights);
    made->bias = stack(biases);
    return made;
  }
  std::vector<Stamp> now;
  for (size_t i = 0; i < parts.size(); ++i) {
    now.push_back(stamp(weights[i]));
    now.push_back(stamp(biases[i]));
  }
  const uint64_t generation = parameters_written.load();
  std::lock_guard<std::mutex> lock(mutex_);
  if (now != stamps_ || generation != generation_ || !current_) {
    auto made = std::make_shared<Weights>();
    made->weight = stack(weights);  // [sum(out), in]
    made->bias = stack(biases);     // [sum(out)]
    if (OneDnnServes(made->weight.scalar_type()))
      made->onednn = OneDnnLinear::Pack(made->weight, made->bias, /*only_if_packed=*/false);
    current_ = std::move(made);
    stamps_ = std::move(now);
    generation_ = generation;
  }
  return current_;
}

torch::Tensor InferenceLinear::forward(const std::vector<torch::nn::Linear>& parts, const torch::Tensor& input,
                                       LinearActivation act, const torch::Tensor& residual) {
  const auto w = weights(parts);
  const auto in = w->weight.size(1);
  const auto out = w->weight.size(0);
  // oneDNN takes the rows as they lie and makes the output in its final shape: no reshape or
  // view around the product (each an ATen call; a query's forward made ~70 of them).
  if (w->onednn && input.scalar_type() == w->weight.scalar_type() && (!residual.defined() || residual.scalar_type() == input.scalar_type())) {
    auto y = w->onednn->Forward(input.contiguous(), act, residual);
    if (y.defined()) return y;
  }
  auto sizes = input.sizes().vec();
  sizes.back() = out;
  const auto x = input.reshape({-1, in});  // [N, in]
  const auto r = residual.defined() ? residual.reshape({-1, out}) : residual;
  if (r.defined() && act == LinearActivation::kNone) {
    auto y = at::addmm(r, x, w->weight.t());  // the GEMM adds into a copy of the residual
    y.add_(w->bias);
    return y.view(sizes);
  }
  auto y = at::addmm(w->bias, x, w->weight.t());  // [N, out]
  ActivateInPlace(act, y);  // y is this call's own temporary
  if (r.defined()) y.add_(r);
  return y.view(sizes);
}

namespace {

// quick_gelu in place, x * sigmoid(1.702 x), in one pass over x: each thread
// takes blocks of rows small enough to stay in cache and runs the same three
// ATen ops as the per-op path on them (multiply into a block-sized temporary,
// sigmoid in place, multiply into x), so the values equal it and no tensor of
// x's size is allocated. x: contiguous [rows, width].
void QuickGeluInPlace(torch::Tensor& x) {
  const int64_t width = std::max<int64_t>(x.size(-1), 1);
  const int64_t rows = x.numel() / width;
  const auto flat = x.view({rows, width});
  const int64_t block = std::max<int64_t>(1, 16384 / width);  // ~64 KiB of float32
  at::parallel_for(0, rows, block, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r += block) {
      auto part = flat.slice(0, r, std::min(end, r + block));
      part.mul_(at::mul(part, 1.702).sigmoid_());
    }
  });
}

}  // namespace

void ActivateInPlace(LinearActivation act, torch::Tensor& y) {
  switch (act) {
    case LinearActivation::kRelu:
      y.relu_();
      break;
    case LinearActivation::kGeluErf:
      at::gelu_(y, "none");
      break;
    case LinearActivation::kGeluTanh:
      at::gelu_(y, "tanh");
      break;
    case LinearActivation::kQuickGelu:
      if (y.is_contiguous())
        QuickGeluInPlace(y);
      else
        y.mul_(torch::sigmoid(1.702 * y));
      break;
    case LinearActivation::kSilu:
      at::silu_(y);
      break;
    case LinearActivation::kNone:
      break;
  }
}

LinearActivation ActivationNamed(const std::string& hidden_act) {
  if (hidden_act == "relu") return LinearActivation::kRelu;
  if (hidden_act == "quick_gelu") return LinearActivation::kQuickGelu;
  if (hidden_act == "silu") return LinearActivation::kSilu;
  if (hidden_act == "gelu_new" || hidden_act == "gelu_pytorch_tanh") return LinearActivation::kGeluTanh;
  if (hidden_act == "gelu") return LinearActivation::kGeluErf;
  TORCH_CHECK(false, "no inference epilogue for hidden_act \"", hidden_act, "\"");
}

}  // namespace et
