#include "models/onednn_linear.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#ifdef EMBEDDINGS_TORCH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace et {

#ifdef EMBEDDINGS_TORCH_ONEDNN
namespace {

dnnl::engine& CpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::algorithm Algorithm(LinearActivation act) {
  switch (act) {
    case LinearActivation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case LinearActivation::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case LinearActivation::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case LinearActivation::kQuickGelu:  // x * sigmoid(1.702 x): swish with alpha 1.702
    case LinearActivation::kSilu:       // x * sigmoid(x): swish with alpha 1
      return dnnl::algorithm::eltwise_swish;
    case LinearActivation::kNone:
      break;
  }
  return dnnl::algorithm::undef;
}

using Tag = dnnl::memory::format_tag;
using Type = dnnl::memory::data_type;

// matmul [M, K] x [K, N] + bias [1, N], then act, then + dst (the residual).
// Weights "any": the layout this CPU's kernel wants.
dnnl::matmul::primitive_desc MatmulFor(int64_t m, int64_t k, int64_t n, LinearActivation act, bool residual) {
  dnnl::post_ops ops;
  const float alpha = act == LinearActivation::kQuickGelu ? 1.702f : act == LinearActivation::kSilu ? 1.f : 0.f;
  if (act != LinearActivation::kNone) ops.append_eltwise(1.f, Algorithm(act), alpha, 0.f);
  if (residual) ops.append_sum(1.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  const dnnl::matmul::desc desc(dnnl::memory::desc({m, k}, Type::f32, Tag::ab), dnnl::memory::desc({k, n}, Type::f32, Tag::any),
                                dnnl::memory::desc({1, n}, Type::f32, Tag::ab), dnnl::memory::desc({m, n}, Type::f32, Tag::ab));
  return dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
}

class PackedLinear final : public OneDnnLinear {
 public:
  PackedLinear(const torch::Tensor& weight, const torch::Tensor& bias)
      : k_(weight.size(1)), n_(weight.size(0)), bias_(bias.contiguous()) {
    // torch's weight [N, K] row-major is the [K, N] matrix in "ba" order.
    const dnnl::memory::desc plain({k_, n_}, Type::f32, Tag::ba);
    // The packed layout does not depend on M (../shared/CPU.md); a primitive
    // for another M that wants another layout is refused in Forward.
    layout_ = MatmulFor(16, k_, n_, LinearActivation::kNone, false).weights_desc();
    if (layout_ == plain) {
      weight_ = weight.contiguous();  // taken as it lies: no second copy
    } else {
      weight_ = at::empty({static_cast<int64_t>((layout_.get_size() + sizeof(float) - 1) / sizeof(float))},
                          weight.options());
      const auto source = weight.contiguous();
      dnnl::memory from(plain, CpuEngine(), source.data_ptr());
      dnnl::memory to(layout_, CpuEngine(), weight_.data_ptr());
      dnnl::stream stream(CpuEngine());
      dnnl::reorder(from, to).execute(stream, from, to);
      stream.wait();
    }
  }

  torch::Tensor Forward(const torch::Tensor& input, LinearActivation act, const torch::Tensor& residual) override {
    const int64_t m = input.size(0);
    TORCH_CHECK(input.dim() == 2 && input.size(1) == k_ && input.is_contiguous() && input.scalar_type() == torch::kFloat,
                "OneDnnLinear: input ", input.sizes(), " is not a contiguous float32 [M, ", k_, "]");
    // Rows in blocks of kBlock, then one block of a multiple of kStep, then
    // the rest: at most 2 + kBlock / kStep + kStep distinct primitive sizes per
    // epilogue, whatever mix of batch sizes and lengths a service sees, and no
    // copy (each block is a view of the input and the output).
    std::vector<std::pair<int64_t, std::shared_ptr<const dnnl::matmul>>> blocks;
    for (int64_t row = 0; row < m;) {
      const int64_t left = m - row;
      const int64_t rows = left >= kBlock ? kBlock : left >= kStep ? left / kStep * kStep : left;
      auto primitive = Primitive(rows, act, residual.defined());
      if (primitive == nullptr) return {};  // this size wants another weight layout: at::addmm serves the call
      blocks.emplace_back(rows, primitive);
      row += rows;
    }
    at::internal::lazy_init_num_threads();  // this thread's OpenMP team size, as ATen's own ops get it
    auto out = residual.defined() ? residual.reshape({m, n_}).clone(at::MemoryFormat::Contiguous)
                                  : at::empty({m, n_}, input.options());
    try {
      auto& engine = CpuEngine();
      thread_local dnnl::stream stream(CpuEngine());
      dnnl::memory weights(layout_, engine, weight_.data_ptr());
      dnnl::memory bias({{1, n_}, Type::f32, Tag::ab}, engine, bias_.data_ptr());
      int64_t row = 0;
      for (const auto& [rows, primitive] : blocks) {
        dnnl::memory src({{rows, k_}, Type::f32, Tag::ab}, engine, input.data_ptr<float>() + row * k_);
        dnnl::memory dst({{rows, n_}, Type::f32, Tag::ab}, engine, out.data_ptr<float>() + row * n_);
        primitive->execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
        row += rows;
      }
      stream.wait();
    } catch (const dnnl::error& e) {
      TORCH_CHECK(false, "oneDNN matmul [", m, ", ", k_, "] x [", k_, ", ", n_, "] failed: ", e.what());
    }
    return out;
  }

 private:
  struct Entry {
    int64_t m;
    LinearActivation act;
    bool residual;
    std::shared_ptr<const dnnl::matmul> primitive;  // null: this M wants another weight layout
  };

  // The primitive for this M and epilogue, made once (0.1-2 ms) and kept.
  // Forward's blocking bounds the sizes; the bound here only guards memory.
  std::shared_ptr<const dnnl::matmul> Primitive(int64_t m, LinearActivation act, bool residual) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : entries_)
      if (e.m == m && e.act == act && e.residual == residual) return e.primitive;
    std::shared_ptr<const dnnl::matmul> made;
    try {
      const auto pd = MatmulFor(m, k_, n_, act, residual);
      if (pd.weights_desc() == layout_) made = std::make_shared<const dnnl::matmul>(pd);
    } catch (const dnnl::error& e) {
      TORCH_CHECK(false, "oneDNN matmul [", m, ", ", k_, "] x [", k_, ", ", n_, "]: no primitive: ", e.what());
    }
    if (entries_.size() >= kMaxEntries) entries_.erase(entries_.begin());
    entries_.push_back(Entry{m, act, residual, std::move(made)});
    return entries_.back().primitive;
  }

  static constexpr int64_t kBlock = 256;
  static constexpr int64_t kStep = 64;
  static constexpr size_t kMaxEntries = 4 * (2 + kBlock / kStep + kStep);  // every size of every epilogue
  const int64_t k_;
  const int64_t n_;
  dnnl::memory::desc layout_;
  torch::Tensor weight_;  // in layout_ (the caller's weight itself when that is plain)
  torch::Tensor bias_;
  std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace

std::shared_ptr<OneDnnLinear> OneDnnLinear::Pack(const torch::Tensor& weight, const torch::Tensor& bias,
                                                  bool only_if_packed) {
  if (weight.dim() != 2 || !weight.device().is_cpu() || weight.scalar_type() != torch::kFloat || !bias.defined() ||
      bias.dim() != 1 || bias.size(0) != weight.size(0) || !bias.device().is_cpu() || bias.scalar_type() != torch::kFloat)
    return nullptr;
  if (only_if_packed && !PacksHere()) return nullptr;  // before any reorder: nothing made to be thrown away
  try {
    return std::make_shared<PackedLinear>(weight, bias);
  } catch (const dnnl::error&) {
    return nullptr;  // no matmul for this shape on this CPU: at::addmm serves it
  }
}

std::string OneDnnLinear::Describe() {
  try {
    const auto* v = dnnl_version();
    const auto pd = MatmulFor(16, 384, 1536, LinearActivation::kNone, false);
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " " +
           pd.impl_info_str() + (PacksHere() ? ", weights packed once" : ", weights repacked every call");
  } catch (const dnnl::error& e) {
    return std::string("oneDNN without a matmul here: ") + e.what();
  }
}

bool OneDnnLinear::PacksHere() {
  static const bool packs = [] {  // the CPU's kernel choice: asked once per process
    try {
      const auto pd = MatmulFor(16, 384, 1536, LinearActivation::kNone, false);
      return std::string(pd.impl_info_str()).rfind("brg", 0) == 0;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return packs;
}

#else  // no oneDNN headers at build time

std::shared_ptr<OneDnnLinear> OneDnnLinear::Pack(const torch::Tensor&, const torch::Tensor&, bool) { return nullptr; }

std::string OneDnnLinear::Describe() { return "no oneDNN in this build (its headers were not found)"; }

bool OneDnnLinear::PacksHere() { return false; }

#endif

}  // namespace et
