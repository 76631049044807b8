#include "models/fused_attention.h"

#include "models/avx512.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

namespace et {

namespace {

// One (batch row, head) problem: pointers and strides in floats.
struct Head {
  const float* q;         // query row i at q + i * row
  const float* k;         // key row j at k + j * row
  const float* v;         // value row j at v + j * row
  int64_t row;            // 3H
  float* out;             // context row i at out + i * out_row
  int64_t out_row;        // H
  const float* mask;      // additive mask row i at mask + i * mask_row; nullptr: none
  int64_t mask_row;       // 0 where one mask row serves every query
  int64_t length;         // L
  float scale;
};

enum class AttentionMode { kAuto, kGemm };

// EMBEDDINGS_TORCH_ATTENTION, read once: "gemm" keeps the GEMM path
// (for comparisons); anything else is auto, and Describe says so.
std::pair<AttentionMode, std::string> ModeFromEnvironment() {
  static const std::pair<AttentionMode, std::string> mode = []() -> std::pair<AttentionMode, std::string> {
    const char* value = std::getenv("EMBEDDINGS_TORCH_ATTENTION");
    const std::string v = value == nullptr ? "" : value;
    if (v.empty() || v == "auto") return {AttentionMode::kAuto, ""};
    if (v == "gemm") return {AttentionMode::kGemm, ""};
    return {AttentionMode::kAuto, "EMBEDDINGS_TORCH_ATTENTION=" + v + " is not auto or gemm: auto; "};
  }();
  return mode;
}

#ifdef ET_HAS_AVX512_KERNELS

constexpr int kBlockRows = 12;  // query rows whose scores are held at once (12 x L floats)

// dst[i * width + c] = src[i * row + c] as float32 (exact) for i < rows, c < width (a multiple of 16).
ET_AVX512 void WidenRows(const Bf16* src, int64_t row, int64_t rows, int64_t width, float* dst) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < width; c += 16) _mm512_storeu_ps(dst + i * width + c, LoadBf16(src + i * row + c, 0xFFFF));
}

// dst[i * row + c] = src[i * width + c] rounded to bfloat16 (StoreBf16).
ET_AVX512 void NarrowRows(const float* src, int64_t rows, int64_t width, Bf16* dst, int64_t row) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < width; c += 16) StoreBf16(dst + i * row + c, _mm512_loadu_ps(src + i * width + c), 0xFFFF);
}

// exp(x) for x <= 0 (a softmax's x - max), within ~1 ulp: n = round(x / ln 2),
// r = x - n ln 2 in two parts (|r| <= ln 2 / 2), e^r by its degree-7 Taylor
// polynomial (remainder < 6e-9 relative), times 2^n. Below -87 the result is
// 0, not the subnormal expf gives down to -103: a masked key (the mask's
// float32 lowest) came out as exp(-103), a subnormal, and on Intel CPUs every
// FMA of the context product that reads one takes a microcode assist (CLIP's
// causal 32x77 batch on an AMX Xeon: 1.5 s, 2x onnxruntime). Such a term is
// below 1.2e-38 of a probability sum of at least 1: no float32 result changes.
ET_AVX512 inline __m512 Exp(__m512 x) {
  const __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(normal, p, n);
}

// scores[r][j, j + 16 NV) = scale * (q_{i0+r} · k_j) + mask_{i0+r}[j] for R
// query rows: kt is kᵀ [hd, lp] (zero beyond L), scores rows lp apart;
// maxes[r] takes the lane-wise maximum of row r's scores below L.
template <int R, int NV>
ET_AVX512 void ScoreTile(const Head& h, int64_t head_dim, int64_t i0, const float* kt, int64_t lp, int64_t j,
                         float* scores, __m512* maxes) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* q = h.q + i0 * h.row;
  for (int64_t d = 0; d < head_dim; ++d) {
    __m512 key[NV];
    for (int v = 0; v < NV; ++v) key[v] = _mm512_loadu_ps(kt + d * lp + j + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 query = _mm512_set1_ps(q[r * h.row + d]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(query, key[v], acc[r][v]);
    }
  }
  const __m512 scale = _mm512_set1_ps(h.scale);
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) {
      const int64_t col = j + 16 * v;
      __m512 x = _mm512_mul_ps(acc[r][v], scale);  // HF: (q kᵀ) * scale, then + mask
      if (h.mask != nullptr)
        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(Lanes(h.length - col), h.mask + (i0 + r) * h.mask_row + col));
      _mm512_storeu_ps(scores + r * lp + col, x);
      maxes[r] = _mm512_mask_max_ps(maxes[r], Lanes(h.length - col), maxes[r], x);
    }
  }
}

// ScoreTile for rows (1..R) query rows.
template <int NV, int R = kBlockRows>
ET_AVX512 void ScoreRows(int rows, const Head& h, int64_t head_dim, int64_t i0, const float* kt, int64_t lp,
                         int64_t j, float* scores, __m512* maxes) {
  if constexpr (R > 1) {
    if (rows < R) return ScoreRows<NV, R - 1>(rows, h, head_dim, i0, kt, lp, j, scores, maxes);
  }
  ScoreTile<R, NV>(h, head_dim, i0, kt, lp, j, scores, maxes);
}

// row[0, n) = exp(row[0, n) - max) in place; returns 1 / their sum (the
// softmax's normalisation, which the context tile applies to its sums).
ET_AVX512 float ExpRow(float* row, int64_t n, float max) {
  const __m512 m = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 e = Exp(_mm512_sub_ps(_mm512_loadu_ps(row + j), m));
    _mm512_storeu_ps(row + j, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (j < n) {
    const __mmask16 lanes = Lanes(n - j);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, row + j), m));
    _mm512_mask_storeu_ps(row + j, lanes, e);
    sum = _mm512_mask_add_ps(sum, lanes, sum, e);
  }
  return 1.0f / _mm512_reduce_add_ps(sum);
}

// context rows i0 .. i0 + R = (exps [R, L] (rows lp apart) · v [L, 16 NC]) * inverse[r].
template <int R, int NC>
ET_AVX512 void ContextTile(const Head& h, int64_t i0, const float* probs, int64_t lp, const float* inverse) {
  __m512 acc[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < h.length; ++j) {
    __m512 value[NC];
    for (int c = 0; c < NC; ++c) value[c] = _mm512_loadu_ps(h.v + j * h.row + 16 * c);
    for (int r = 0; r < R; ++r) {
      const __m512 p = _mm512_set1_ps(probs[r * lp + j]);
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(p, value[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 inv = _mm512_set1_ps(inverse[r]);
    for (int c = 0; c < NC; ++c) _mm512_storeu_ps(h.out + (i0 + r) * h.out_row + 16 * c, _mm512_mul_ps(acc[r][c], inv));
  }
}

// Context rows per tile: at most 16 accumulators (of 32 registers), at most a block.
constexpr int ContextTileRows(int nc) { return std::max(1, std::min(kBlockRows, 24 / nc)); }

// ContextTile for rows (1..R) query rows.
template <int NC, int R>
ET_AVX512 void ContextFew(int rows, const Head& h, int64_t i0, const float* probs, int64_t lp, const float* inverse) {
  if constexpr (R > 1) {
    if (rows < R) return ContextFew<NC, R - 1>(rows, h, i0, probs, lp, inverse);
  }
  ContextTile<R, NC>(h, i0, probs, lp, inverse);
}

// dst[c * ld + i] = src[i * row + c] for i, c < 16 (a 16x16 block transposed
// in registers); src rows at and beyond `rows` read as zeros.
ET_AVX512 void Transpose16(const float* src, int64_t row, int64_t rows, float* dst, int64_t ld) {
  __m512 r[16];
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_ps(src + i * row) : _mm512_setzero_ps();
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {  // per 128-bit lane: (a0 b0 a1 b1), (a2 b2 a3 b3) of rows 2i, 2i+1
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m512 u[16];
  for (int i = 0; i < 4; ++i) {  // per lane: column 0..3 of rows 4i .. 4i+3
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int c = 0; c < 4; ++c) {  // u[4i + c] lane l: column c + 4l of rows 4i .. 4i+3
    const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);       // columns c, c+8: rows 0-7
    const __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);       // columns c+4, c+12: rows 0-7
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);  // columns c, c+8: rows 8-15
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);  // columns c+4, c+12: rows 8-15
    _mm512_storeu_ps(dst + (c + 0) * ld, _mm512_shuffle_f32x4(v0, v2, 0x88));
    _mm512_storeu_ps(dst + (c + 8) * ld, _mm512_shuffle_f32x4(v0, v2, 0xDD));
    _mm512_storeu_ps(dst + (c + 4) * ld, _mm512_shuffle_f32x4(v1, v3, 0x88));
    _mm512_storeu_ps(dst + (c + 12) * ld, _mm512_shuffle_f32x4(v1, v3, 0xDD));
  }
}

// One (batch row, head): kᵀ once, then per block of query rows its scores,
// their exps and its context rows. kt: hd * lp floats, scores: kBlockRows * lp.
template <int NC>
ET_AVX512 void OneHead(const Head& h, float* kt, float* scores) {
  constexpr int64_t kHeadDim = 16 * NC;
  constexpr int kTile = ContextTileRows(NC);
  const int64_t length = h.length;
  const int64_t lp = (length + 15) / 16 * 16;
  for (int64_t j = 0; j < lp; j += 16)  // kᵀ [hd, lp], zeros beyond L
    for (int64_t d = 0; d < kHeadDim; d += 16) Transpose16(h.k + j * h.row + d, h.row, length - j, kt + d * lp + j, lp);
  const __m512 lowest = _mm512_set1_ps(-INFINITY);
  for (int64_t i0 = 0; i0 < length; i0 += kBlockRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kBlockRows, length - i0));
    __m512 maxes[kBlockRows];
    for (int r = 0; r < kBlockRows; ++r) maxes[r] = lowest;
    int64_t j = 0;
    for (; j + 32 <= lp; j += 32) ScoreRows<2>(rows, h, kHeadDim, i0, kt, lp, j, scores, maxes);
    if (j < lp) ScoreRows<1>(rows, h, kHeadDim, i0, kt, lp, j, scores, maxes);
    float inverse[kBlockRows];
    for (int r = 0; r < rows; ++r) inverse[r] = ExpRow(scores + r * lp, length, _mm512_reduce_max_ps(maxes[r]));
    int done = 0;
    for (; done + kTile <= rows; done += kTile)
      ContextTile<kTile, NC>(h, i0 + done, scores + done * lp, lp, inverse + done);
    if (done < rows) ContextFew<NC, kTile>(rows - done, h, i0 + done, scores + done * lp, lp, inverse + done);
  }
}

void RunHead(const Head& h, int64_t head_dim, float* kt, float* scores) {
  switch (head_dim / 16) {
    case 1: return OneHead<1>(h, kt, scores);
    case 2: return OneHead<2>(h, kt, scores);
    case 3: return OneHead<3>(h, kt, scores);
    case 4: return OneHead<4>(h, kt, scores);
    case 5: return OneHead<5>(h, kt, scores);
    case 6: return OneHead<6>(h, kt, scores);
    case 7: return OneHead<7>(h, kt, scores);
    case 8: return OneHead<8>(h, kt, scores);
    default: TORCH_CHECK(false, "FusedSelfAttention: head size ", head_dim, " is not 16..128 in steps of 16");
  }
}

#endif  // ET_HAS_AVX512_KERNELS

}  // namespace

bool FusedAttentionHere() {
  static const bool here = ModeFromEnvironment().first == AttentionMode::kAuto && CpuHasAvx512();
  return here;
}

std::string DescribeInferenceAttention() {
  const auto [mode, note] = ModeFromEnvironment();
  if (mode == AttentionMode::kGemm) return note + "score and context GEMMs (EMBEDDINGS_TORCH_ATTENTION=gemm)";
  if (FusedAttentionHere()) return note + "fused per head, AVX-512 (float32 and bfloat16)";
  return note + "score and context GEMMs (the fused kernel needs an x86-64 CPU with AVX-512)";
}

#ifdef ET_HAS_AVX512_KERNELS
namespace {

// Every (batch row, head) of qkv on ATen's intra-op threads. bfloat16 heads
// are widened to float32 once (q, k, v and the context: 4 x L x hd floats), run through the
// same kernel and rounded back once: converting inside the tiles would widen
// every value row once per block of query rows.
template <typename T>
void AllHeads(const T* base, T* out, const float* mask_base, int64_t mask_batch, int64_t mask_row, int64_t batch,
              int64_t length, int64_t size, int64_t heads, double scale) {
  const int64_t head_dim = size / heads;
  const int64_t lp = (length + 15) / 16 * 16;
  at::parallel_for(0, batch * heads, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> kt;
    thread_local std::vector<float> scores;
    thread_local std::vector<float> staged;  // bfloat16: q, k, v and context of one head as float32
    kt.resize(static_cast<size_t>(head_dim * lp));
    scores.resize(static_cast<size_t>(kBlockRows * lp));
    if constexpr (!std::is_same_v<T, float>) staged.resize(static_cast<size_t>(4 * length * head_dim));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / heads, n = task % heads;
      const T* q = base + b * length * 3 * size + n * head_dim;
      T* o = out + b * length * size + n * head_dim;
      const float* mask = mask_base == nullptr ? nullptr : mask_base + b * mask_batch;
      if constexpr (std::is_same_v<T, float>) {
        const Head h{q, q + size, q + 2 * size, 3 * size, o, size, mask, mask_row, length, static_cast<float>(scale)};
        RunHead(h, head_dim, kt.data(), scores.data());
      } else {
        float* f = staged.data();
        const int64_t part = length * head_dim;
        for (int64_t which = 0; which < 3; ++which) WidenRows(q + which * size, 3 * size, length, head_dim, f + which * part);
        const Head h{f, f + part, f + 2 * part, head_dim, f + 3 * part, head_dim, mask, mask_row, length, static_cast<float>(scale)};
        RunHead(h, head_dim, kt.data(), scores.data());
        NarrowRows(f + 3 * part, length, head_dim, o, size);
      }
    }
  });
}

}  // namespace
#endif

bool FusedSelfAttention(const torch::Tensor& qkv, int64_t heads, double scale, const torch::Tensor& mask,
                        torch::Tensor& context) {
#ifdef ET_HAS_AVX512_KERNELS
  const auto dtype = qkv.scalar_type();
  if (!FusedAttentionHere() || (dtype != torch::kFloat && dtype != torch::kBFloat16) || !qkv.device().is_cpu() ||
      qkv.dim() != 3 || !qkv.is_contiguous() || heads <= 0 || qkv.size(2) % (3 * heads) != 0)
    return false;
  const int64_t batch = qkv.size(0), length = qkv.size(1), size = qkv.size(2) / 3, head_dim = size / heads;
  if (head_dim % 16 != 0 || head_dim > 128 || head_dim == 0) return false;
  if (context.scalar_type() != dtype || !context.device().is_cpu() || !context.is_contiguous() ||
      context.sizes() != torch::IntArrayRef({batch, length, size}))
    return false;
  torch::Tensor m;
  if (mask.defined()) {
    if (mask.dim() != 4 || (mask.size(0) != 1 && mask.size(0) != batch) || mask.size(1) != 1 ||
        (mask.size(2) != 1 && mask.size(2) != length) || mask.size(3) != length)
      return false;
    m = mask.to(torch::kFloat).contiguous();  // a bfloat16 model's mask (0 and a large negative) as float32
  }
  if (batch == 0 || length == 0) return true;
  const float* mask_base = m.defined() ? m.data_ptr<float>() : nullptr;
  const int64_t mask_batch = m.defined() && m.size(0) != 1 ? m.stride(0) : 0;
  const int64_t mask_row = m.defined() && m.size(2) != 1 ? m.stride(2) : 0;
  if (dtype == torch::kFloat)
    AllHeads(qkv.data_ptr<float>(), context.data_ptr<float>(), mask_base, mask_batch, mask_row, batch, length, size,
             heads, scale);
  else
    AllHeads(reinterpret_cast<const Bf16*>(qkv.data_ptr<at::BFloat16>()),
             reinterpret_cast<Bf16*>(context.data_ptr<at::BFloat16>()), mask_base, mask_batch, mask_row, batch, length,
             size, heads, scale);
  return true;
#else
  (void)qkv, (void)heads, (void)scale, (void)mask, (void)context;
  return false;
#endif
}

}  // namespace et
