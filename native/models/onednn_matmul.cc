#include "models/onednn_matmul.h"

#include <ATen/Parallel.h>

#include "small_forward.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
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

// The oneDNN type of a float32 or bfloat16 tensor; undef for any other.
Type TypeOf(c10::ScalarType t) {
  return t == c10::ScalarType::Float ? Type::f32 : t == c10::ScalarType::BFloat16 ? Type::bf16 : Type::undef;
}

// matmul [M, K] x [K, N] + bias [1, N] (float32), then act, then + dst (the
// residual); source, weights and destination of `type`. Weights "any": the
// layout this CPU's kernel wants.
dnnl::matmul::primitive_desc MatmulFor(int64_t m, int64_t k, int64_t n, LinearActivation act, bool residual, Type type) {
  dnnl::post_ops ops;
  const float alpha = act == LinearActivation::kQuickGelu ? 1.702f : act == LinearActivation::kSilu ? 1.f : 0.f;
  if (act != LinearActivation::kNone) ops.append_eltwise(1.f, Algorithm(act), alpha, 0.f);
  if (residual) ops.append_sum(1.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // see Matmul
  const dnnl::matmul::desc desc(dnnl::memory::desc({m, k}, type, Tag::ab), dnnl::memory::desc({k, n}, type, Tag::any),
                                dnnl::memory::desc({1, n}, Type::f32, Tag::ab), dnnl::memory::desc({m, n}, type, Tag::ab));
  return dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
}

// Temporaries that end with their product (a scratchpad, a part's dense
// output) from a block each thread keeps and grows, instead of a malloc and
// free per product: a MiniLM query made ~100 of them, the partner's at the
// same moment as the compute thread's, both in glibc's one arena
// (allocator_tuning.h). `slot` tells uses that overlap on one thread apart.
// nullptr above kMaxThreadBuffer bytes (a large batch's product: the caller
// allocates), so a thread keeps at most 2 x 4 MiB.
constexpr int kScratchpadSlot = 0;
constexpr int kPartSlot = 1;
constexpr size_t kMaxThreadBuffer = size_t{4} << 20;

void* ThreadBuffer(int slot, size_t bytes) {
  struct Block {
    void* data = nullptr;
    size_t size = 0;
    ~Block() { std::free(data); }
  };
  thread_local Block blocks[2];
  if (bytes > kMaxThreadBuffer) return nullptr;
  auto& block = blocks[slot];
  if (block.size < bytes) {
    const size_t size = (std::max(bytes, std::min(block.size * 2, kMaxThreadBuffer)) + 63) / 64 * 64;
    void* data = std::aligned_alloc(64, size);
    if (data == nullptr) return nullptr;
    std::free(block.data);
    block.data = data;
    block.size = size;
  }
  return block.data;
}

// A memory handle of this thread for one role in a product (source,
// destination, scratchpad) and one plain 2-D shape, pointed at each call's
// data: making a dnnl::memory (its descriptor, object and storage) for every
// argument of every product cost ~1 µs each, ~100 µs of a 1.4 ms MiniLM
// bfloat16 query. A handle is only used by its thread, between a call's start
// and its end. dims {bytes} with Type::u8: a scratchpad.
enum class Role { kSource, kDestination, kScratchpad };
dnnl_memory_t ThreadMemory(Role role, const dnnl::memory::desc& desc, void* data) {
  struct Kept {
    dnnl::memory::desc desc;
    dnnl::memory memory;
  };
  // A few shapes per role: a layer's products have two or three, a forward's rows one or two.
  constexpr size_t kPerRole = 8;
  thread_local std::vector<Kept> kept[3];
  auto& mine = kept[static_cast<int>(role)];
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i].desc == desc) {
      if (i > 0) std::swap(mine[i], mine[i - 1]);  // frequent shapes move to the front
      auto& found = mine[i > 0 ? i - 1 : 0].memory;
      found.set_data_handle(data);
      return found.get();
    }
  }
  if (mine.size() >= kPerRole) mine.pop_back();
  mine.push_back(Kept{desc, dnnl::memory(desc, CpuEngine(), data)});
  return mine.back().memory.get();
}

dnnl::memory::desc Plain(int64_t rows, int64_t cols, Type type) { return dnnl::memory::desc({rows, cols}, type, Tag::ab); }

// A matmul primitive whose every call brings its own scratchpad
// (scratchpad_mode::user). oneDNN's default shares one scratchpad among all
// primitives, and a service's concurrent forwards (libuv worker threads, each
// with its own OpenMP team) would overwrite each other's partial sums in it.
class Matmul {
 public:
  explicit Matmul(const dnnl::matmul::primitive_desc& pd) : primitive_(pd), scratchpad_(pd.scratchpad_desc()) {}

  // Runs to completion on this thread's stream, with these arguments (at
  // most four) and a scratchpad: this thread's (ThreadBuffer), or a block of
  // its own where that is too large. Through oneDNN's C call: the C++ one
  // takes a hash map of arguments, allocated on every call.
  void Execute(std::initializer_list<dnnl_exec_arg_t> args) const {
    thread_local dnnl::stream stream(CpuEngine());
    dnnl_exec_arg_t all[5];
    int count = 0;
    for (const auto& arg : args) all[count++] = arg;
    torch::Tensor pad;  // freed after the wait below
    const size_t bytes = scratchpad_.get_size();
    if (bytes > 0) {
      void* at = ThreadBuffer(kScratchpadSlot, bytes);
      if (at == nullptr) {
        pad = at::empty({static_cast<int64_t>(bytes)}, at::TensorOptions().dtype(at::kByte));
        at = pad.data_ptr();
      }
      all[count++] = {DNNL_ARG_SCRATCHPAD, ThreadMemory(Role::kScratchpad, scratchpad_, at)};
    }
    dnnl::error::wrap_c_api(dnnl_primitive_execute(primitive_.get(), stream.get(), count, all), "could not execute a matmul");
    stream.wait();
  }

 private:
  dnnl::matmul primitive_;
  dnnl::memory::desc scratchpad_;
};

class PackedLinear final : public OneDnnLinear {
 public:
  PackedLinear(const torch::Tensor& weight, const torch::Tensor& bias)
      : k_(weight.size(1)),
        n_(weight.size(0)),
        dtype_(weight.scalar_type()),
        type_(TypeOf(dtype_)),
        bias_(bias.to(torch::kFloat).contiguous()) {
    // torch's weight [N, K] row-major is the [K, N] matrix in "ba" order.
    const dnnl::memory::desc plain({k_, n_}, type_, Tag::ba);
    // The packed layout does not depend on M (measured at M = 16 and 4096); a primitive
    // for another M that wants another layout is refused in Forward.
    layout_ = MatmulFor(16, k_, n_, LinearActivation::kNone, false, type_).weights_desc();
    if (layout_ == plain) {
      weight_ = weight.contiguous();  // taken as it lies: no second copy
    } else {
      weight_ = at::empty({static_cast<int64_t>((layout_.get_size() + weight.element_size() - 1) / weight.element_size())},
                          weight.options());
      const auto source = weight.contiguous();
      dnnl::memory from(plain, CpuEngine(), source.data_ptr());
      dnnl::memory to(layout_, CpuEngine(), weight_.data_ptr());
      dnnl::stream stream(CpuEngine());
      dnnl::reorder(from, to).execute(stream, from, to);
      stream.wait();
    }
    // Column blocks (the packed layout's N blocks are outermost: a run of whole
    // blocks is itself a packed [K, n] weight, which SmallForwardScope's
    // partners take one each).
    if (layout_.data.format_kind == dnnl_blocked) {
      const auto& blocking = layout_.data.format_desc.blocking;
      block_n_ = 1;
      for (int i = 0; i < blocking.inner_nblks; ++i)
        if (blocking.inner_idxs[i] == 1) block_n_ *= blocking.inner_blks[i];
      stride_n_ = blocking.strides[1];
    }
  }

  torch::Tensor Forward(const torch::Tensor& input, LinearActivation act, const torch::Tensor& residual) override {
    TORCH_CHECK(input.dim() >= 1 && input.size(-1) == k_ && input.is_contiguous() && input.scalar_type() == dtype_,
                "OneDnnLinear: input ", input.sizes(), " ", input.scalar_type(), " is not a contiguous ", dtype_, " [..., ", k_, "]");
    int64_t m = 1;  // the rows: every dimension but the last (not numel / K: K may be 0)
    for (int64_t d = 0; d + 1 < input.dim(); ++d) m *= input.size(d);
    TORCH_CHECK(!residual.defined() || (residual.numel() == m * n_ && residual.scalar_type() == dtype_),
                "OneDnnLinear: residual ", residual.sizes(), " is not ", dtype_, " with ", m, " x ", n_, " elements");
    auto sizes = input.sizes().vec();
    sizes.back() = n_;
    const int64_t parts = block_n_ > 0 ? std::min<int64_t>(SmallForwardScope::Parts(), (n_ + block_n_ - 1) / block_n_) : 1;
    if (parts > 1 && m <= kMaxSplitRows) {
      auto out = ForwardInParts(input, m, sizes, act, residual, static_cast<int>(parts));
      if (out.defined()) return out;
    }
    // Rows in blocks of kBlock, then one block of a multiple of kWideStep,
    // one of a multiple of kStep, then the rest: at most kSizes distinct
    // primitive sizes per epilogue, whatever mix of batch sizes and lengths a
    // service sees, no copy (each block is a view of the input and the output)
    // and a batch in one to four calls. Each call is one OpenMP region, whose
    // sleeping workers (OMP_WAIT_POLICY=PASSIVE) are woken and waited for: in
    // blocks of 256 rows a MiniLM 32x128 bfloat16 batch on AMX took 148 ms,
    // in one block of 4096 rows 93 ms (float32 378 -> 329 ms).
    std::vector<std::pair<int64_t, std::shared_ptr<const Matmul>>> blocks;
    for (int64_t row = 0; row < m;) {
      const int64_t left = m - row;
      const int64_t rows = left >= kBlock       ? kBlock
                           : left >= kWideStep ? left / kWideStep * kWideStep
                           : left >= kStep     ? left / kStep * kStep
                                               : left;
      auto primitive = Primitive(rows, n_, act, residual.defined());
      if (primitive == nullptr) return {};  // this size wants another weight layout: at::addmm serves the call
      blocks.emplace_back(rows, primitive);
      row += rows;
    }
    at::internal::lazy_init_num_threads();  // this thread's OpenMP team size, as ATen's own ops get it
    auto out = residual.defined() ? residual.clone(at::MemoryFormat::Contiguous).view(sizes) : at::empty(sizes, input.options());
    try {
      const auto& [weights, bias] = ColumnMemory(0, n_);
      int64_t row = 0;
      for (const auto& [rows, primitive] : blocks) {
        const auto element = static_cast<int64_t>(input.element_size());
        auto* src = ThreadMemory(Role::kSource, Plain(rows, k_, type_), static_cast<char*>(input.data_ptr()) + row * k_ * element);
        auto* dst = ThreadMemory(Role::kDestination, Plain(rows, n_, type_), static_cast<char*>(out.data_ptr()) + row * n_ * element);
        primitive->Execute({{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights.get()}, {DNNL_ARG_BIAS, bias.get()}, {DNNL_ARG_DST, dst}});
        row += rows;
      }
    } catch (const dnnl::error& e) {
      TORCH_CHECK(false, "oneDNN matmul [", m, ", ", k_, "] x [", k_, ", ", n_, "] failed: ", e.what());
    }
    return out;
  }

 private:
  // The product split by column blocks across SmallForwardScope's partners:
  // part i multiplies the whole input by its run of weight blocks into a
  // temporary of its own (oneDNN's brgemm writes only dense outputs) and
  // copies it into its columns of the output. Undefined where a part's size
  // has no primitive reading the packed blocks as they lie.
  torch::Tensor ForwardInParts(const torch::Tensor& input, int64_t m, at::IntArrayRef sizes, LinearActivation act,
                               const torch::Tensor& residual, int parts) {
    const int64_t blocks = (n_ + block_n_ - 1) / block_n_;
    // One task per part (Forward: parts <= blocks): finer tasks (2 or 3 a part, claimed by whichever
    // thread is free) measured 15-25% slower on a MiniLM query, each extra oneDNN call costing more
    // than the balance gained.
    const int tasks = parts;
    std::vector<int64_t> columns(tasks + 1);
    for (int i = 0; i <= tasks; ++i) columns[i] = std::min(n_, blocks * i / tasks * block_n_);
    std::vector<std::shared_ptr<const Matmul>> primitives;
    for (int i = 0; i < tasks; ++i) {
      primitives.push_back(Primitive(m, columns[i + 1] - columns[i], act, residual.defined()));
      if (primitives.back() == nullptr) return {};
    }
    const auto res = residual.defined() ? residual.contiguous() : residual;
    auto out = at::empty(sizes, input.options());
    const auto element = static_cast<int64_t>(input.element_size());
    std::vector<const ColumnMemories*> memories;
    for (int i = 0; i < tasks; ++i) memories.push_back(&ColumnMemory(columns[i], columns[i + 1] - columns[i]));
    SmallForwardScope::Run(tasks, [&](int i) {
      const int64_t first = columns[i];
      const int64_t width = columns[i + 1] - first;
      const int64_t row_bytes = width * element;
      // On a partner: no ATen op that may start parallel work, only allocation and copies.
      torch::Tensor own;  // where the thread's block would be too large
      auto* dense = static_cast<char*>(ThreadBuffer(kPartSlot, static_cast<size_t>(m * row_bytes)));
      if (dense == nullptr) {
        own = at::empty({m, width}, input.options());
        dense = static_cast<char*>(own.data_ptr());
      }
      if (res.defined()) {
        const auto* from = static_cast<const char*>(res.data_ptr()) + first * element;
        for (int64_t r = 0; r < m; ++r) std::memcpy(dense + r * row_bytes, from + r * n_ * element, row_bytes);
      }
      try {
        auto* src = ThreadMemory(Role::kSource, Plain(m, k_, type_), input.data_ptr());
        auto* dst = ThreadMemory(Role::kDestination, Plain(m, width, type_), dense);
        const auto& [weights, bias] = *memories[i];
        primitives[i]->Execute({{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights.get()}, {DNNL_ARG_BIAS, bias.get()}, {DNNL_ARG_DST, dst}});
      } catch (const dnnl::error& e) {
        TORCH_CHECK(false, "oneDNN matmul [", m, ", ", k_, "] x [", k_, ", ", width, "] (columns ", first, "..", first + width,
                    " of ", n_, ") failed: ", e.what());
      }
      auto* const to = static_cast<char*>(out.data_ptr()) + first * element;
      for (int64_t r = 0; r < m; ++r) std::memcpy(to + r * n_ * element, dense + r * row_bytes, row_bytes);
    });
    return out;
  }

  // The weights and bias of columns first .. first + width (first at a block
  // boundary, or the whole weight) as oneDNN memory, made on first use and
  // kept: they point into weight_ and bias_, which never change.
  struct ColumnMemories {
    dnnl::memory weights;
    dnnl::memory bias;
  };
  const ColumnMemories& ColumnMemory(int64_t first, int64_t width) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [key, kept] : column_memories_)
      if (key.first == first && key.second == width) return *kept;
    const auto element = static_cast<int64_t>(weight_.element_size());
    auto* weights = static_cast<char*>(weight_.data_ptr()) + (first == 0 ? 0 : first / block_n_ * stride_n_ * element);
    auto made = std::make_unique<ColumnMemories>(ColumnMemories{
        dnnl::memory(Columns(width), CpuEngine(), weights),
        dnnl::memory({{1, width}, Type::f32, Tag::ab}, CpuEngine(), static_cast<float*>(bias_.data_ptr()) + first)});
    column_memories_.emplace_back(std::make_pair(first, width), std::move(made));
    return *column_memories_.back().second;
  }

  // The packed layout of `width` columns starting at a block boundary: layout_
  // with fewer columns, the same strides.
  dnnl::memory::desc Columns(int64_t width) const {
    if (width == n_) return layout_;
    auto data = layout_.data;
    data.dims[1] = width;
    data.padded_dims[1] = (width + block_n_ - 1) / block_n_ * block_n_;
    return dnnl::memory::desc(data);
  }

  struct Entry {
    int64_t m;
    int64_t n;
    LinearActivation act;
    bool residual;
    std::shared_ptr<const Matmul> primitive;  // null: this M wants another weight layout
  };

  // The primitive for this M, these n columns and this epilogue, made once
  // (0.1-2 ms) and kept. Forward's blocking bounds the sizes; the bound here
  // only guards memory.
  std::shared_ptr<const Matmul> Primitive(int64_t m, int64_t n, LinearActivation act, bool residual) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : entries_)
      if (e.m == m && e.n == n && e.act == act && e.residual == residual) return e.primitive;
    std::shared_ptr<const Matmul> made;
    try {
      const auto pd = MatmulFor(m, k_, n, act, residual, type_);
      if (pd.weights_desc() == Columns(n)) made = std::make_shared<const Matmul>(pd);
    } catch (const dnnl::error& e) {
      TORCH_CHECK(false, "oneDNN matmul [", m, ", ", k_, "] x [", k_, ", ", n, "]: no primitive: ", e.what());
    }
    if (entries_.size() >= kMaxEntries) entries_.erase(entries_.begin());
    entries_.push_back(Entry{m, n, act, residual, std::move(made)});
    return entries_.back().primitive;
  }

  static constexpr int64_t kBlock = 4096;
  static constexpr int64_t kWideStep = 512;
  static constexpr int64_t kStep = 64;
  static constexpr int64_t kSizes = 1 + (kBlock / kWideStep - 1) + (kWideStep / kStep - 1) + (kStep - 1);  // 78
  // Products of at most this many rows may be split across SmallForwardScope's partners.
  static constexpr int64_t kMaxSplitRows = 256;
  // every size of every epilogue, whole and in parts
  static constexpr size_t kMaxEntries = 4 * kSizes * 3;
  const int64_t k_;
  const int64_t n_;
  const c10::ScalarType dtype_;
  const Type type_;
  dnnl::memory::desc layout_;
  int64_t block_n_ = 0;   // columns per block of layout_ (0: not a blocked layout, never split)
  int64_t stride_n_ = 0;  // elements from one column block to the next
  torch::Tensor weight_;  // in layout_ (the caller's weight itself when that is plain)
  torch::Tensor bias_;  // float32
  std::mutex mutex_;
  std::vector<Entry> entries_;
  // The whole weight's and each split's column runs: a few per layer, never dropped (a handle
  // given out stays valid while the layer lives).
  std::vector<std::pair<std::pair<int64_t, int64_t>, std::unique_ptr<const ColumnMemories>>> column_memories_;
};

// A batched matmul primitive for one set of layouts, made on first use and kept.
class BatchedMatmuls {
 public:
  static BatchedMatmuls& Instance() {
    static auto* instance = new BatchedMatmuls();  // never destroyed: used from any thread until exit
    return *instance;
  }

  // Null where oneDNN's kernel for these layouts is its reference one.
  std::shared_ptr<const Matmul> Get(const torch::Tensor& a, const torch::Tensor& b, float scale,
                                          const torch::Tensor& addend, const torch::Tensor& out) {
    Key key{{}, scale};
    for (const auto* t : {&a, &b, &addend, &out}) {
      key.layout.push_back(t->defined() ? static_cast<int64_t>(t->scalar_type()) : -1);
      if (!t->defined()) continue;
      key.layout.insert(key.layout.end(), t->sizes().begin(), t->sizes().end());
      key.layout.insert(key.layout.end(), t->strides().begin(), t->strides().end());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first.layout == key.layout && it->first.scale == key.scale) {
        auto found = it->second;
        if (it != entries_.begin()) std::rotate(entries_.begin(), it, it + 1);  // most recent first
        return found;
      }
    }
    std::shared_ptr<const Matmul> made;
    try {
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // see Matmul
      if (scale != 1.f) attr.set_output_scales(0, {scale});
      if (addend.defined()) {
        dnnl::post_ops ops;
        ops.append_binary(dnnl::algorithm::binary_add, Desc(addend));
        attr.set_post_ops(ops);
      }
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(Desc(a), Desc(b), Desc(out)), attr, CpuEngine());
      if (std::string(pd.impl_info_str()).rfind("ref", 0) != 0) made = std::make_shared<const Matmul>(pd);
    } catch (const dnnl::error&) {
      // no primitive for these layouts: ATen serves them
    }
    if (entries_.size() >= kMaxEntries) entries_.pop_back();
    entries_.insert(entries_.begin(), {std::move(key), made});
    return made;
  }

  static dnnl::memory::desc Desc(const torch::Tensor& t) {
    return dnnl::memory::desc(dnnl::memory::dims(t.sizes().begin(), t.sizes().end()), TypeOf(t.scalar_type()),
                              dnnl::memory::dims(t.strides().begin(), t.strides().end()));
  }

 private:
  struct Key {
    std::vector<int64_t> layout;  // dtype, sizes and strides of a, b, addend, out
    float scale;
  };
  // A service sees a few batch sizes and lengths (one layout each for the
  // scores and the context); the least recently used goes first.
  static constexpr size_t kMaxEntries = 128;
  std::mutex mutex_;
  std::vector<std::pair<Key, std::shared_ptr<const Matmul>>> entries_;
};

}  // namespace

std::shared_ptr<OneDnnLinear> OneDnnLinear::Pack(const torch::Tensor& weight, const torch::Tensor& bias,
                                                  bool only_if_packed) {
  const auto dtype = weight.scalar_type();
  if (weight.dim() != 2 || !weight.device().is_cpu() || TypeOf(dtype) == Type::undef || !bias.defined() ||
      bias.dim() != 1 || bias.size(0) != weight.size(0) || !bias.device().is_cpu() || TypeOf(bias.scalar_type()) == Type::undef)
    return nullptr;
  // Before any reorder: nothing made to be thrown away. bfloat16 off brgemm is
  // oneDNN's reference kernel, slower than at::addmm's: never taken.
  if ((only_if_packed || dtype == torch::kBFloat16) && !PacksHere(dtype)) return nullptr;
  try {
    return std::make_shared<PackedLinear>(weight, bias);
  } catch (const dnnl::error&) {
    return nullptr;  // no matmul for this shape on this CPU: at::addmm serves it
  }
}

std::string OneDnnLinear::Describe() {
  try {
    const auto* v = dnnl_version();
    const auto pd = MatmulFor(16, 384, 1536, LinearActivation::kNone, false, Type::f32);
    std::string bfloat16;  // where the CPU multiplies bfloat16 in hardware
    if (PacksHere(torch::kBFloat16))
      bfloat16 = std::string(" (bfloat16: ") + MatmulFor(16, 384, 1536, LinearActivation::kNone, false, Type::bf16).impl_info_str() + ")";
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " " +
           pd.impl_info_str() + (PacksHere() ? ", weights packed once" : ", weights repacked every call") + bfloat16;
  } catch (const dnnl::error& e) {
    return std::string("oneDNN without a matmul here: ") + e.what();
  }
}

bool OneDnnLinear::PacksHere(c10::ScalarType dtype) {
  // The CPU's kernel choice: asked once per process and dtype.
  auto brgemm = [](Type type) {
    try {
      const auto pd = MatmulFor(16, 384, 1536, LinearActivation::kNone, false, type);
      return std::string(pd.impl_info_str()).rfind("brg", 0) == 0;
    } catch (const dnnl::error&) {
      return false;
    }
  };
  static const bool float32 = brgemm(Type::f32);
  static const bool bfloat16 = brgemm(Type::bf16);
  return dtype == torch::kFloat ? float32 : dtype == torch::kBFloat16 ? bfloat16 : false;
}

bool OneDnnBatchedMatmul(const torch::Tensor& a, const torch::Tensor& b, double scale, const torch::Tensor& addend,
                         torch::Tensor& out) {
  const auto type = TypeOf(out.scalar_type());
  if (type == Type::undef || a.scalar_type() != out.scalar_type() || b.scalar_type() != out.scalar_type() ||
      a.dim() != 4 || b.dim() != 4 || out.dim() != 4 || !a.device().is_cpu() || !b.device().is_cpu() || !out.device().is_cpu())
    return false;
  if (addend.defined() && (addend.dim() != 4 || !addend.is_contiguous() || !addend.device().is_cpu() ||
                           (addend.scalar_type() != torch::kFloat && addend.scalar_type() != out.scalar_type())))
    return false;
  for (const torch::Tensor* t : {&a, &b, static_cast<const torch::Tensor*>(&out)})
    for (const auto stride : t->strides())
      if (stride < 0) return false;
  auto primitive = BatchedMatmuls::Instance().Get(a, b, static_cast<float>(scale), addend, out);
  if (primitive == nullptr) return false;
  at::internal::lazy_init_num_threads();  // this thread's OpenMP team size, as ATen's own ops get it
  try {
    auto& engine = CpuEngine();
    dnnl::memory src(BatchedMatmuls::Desc(a), engine, a.data_ptr());
    dnnl::memory weights(BatchedMatmuls::Desc(b), engine, b.data_ptr());
    dnnl::memory dst(BatchedMatmuls::Desc(out), engine, out.data_ptr());
    if (addend.defined()) {
      dnnl::memory add(BatchedMatmuls::Desc(addend), engine, addend.data_ptr());
      primitive->Execute({{DNNL_ARG_SRC, src.get()}, {DNNL_ARG_WEIGHTS, weights.get()}, {DNNL_ARG_DST, dst.get()},
                          {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, add.get()}});
    } else {
      primitive->Execute({{DNNL_ARG_SRC, src.get()}, {DNNL_ARG_WEIGHTS, weights.get()}, {DNNL_ARG_DST, dst.get()}});
    }
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "oneDNN batched matmul ", a.sizes(), " x ", b.sizes(), " -> ", out.sizes(), " failed: ", e.what());
  }
  return true;
}

#else  // no oneDNN headers at build time

std::shared_ptr<OneDnnLinear> OneDnnLinear::Pack(const torch::Tensor&, const torch::Tensor&, bool) { return nullptr; }

std::string OneDnnLinear::Describe() { return "no oneDNN in this build (its headers were not found)"; }

bool OneDnnLinear::PacksHere(c10::ScalarType) { return false; }

bool OneDnnBatchedMatmul(const torch::Tensor&, const torch::Tensor&, double, const torch::Tensor&, torch::Tensor&) {
  return false;
}

#endif

}  // namespace et
