#include "token_ids.h"

#include <torch/csrc/jit/frontend/tracer.h>

namespace et {

void CheckTokenIds(const at::Tensor& ids, int64_t size, const std::string& what, const std::string& table) {
  if (!ids.defined() || ids.numel() == 0 || torch::jit::tracer::isTracing()) return;
  at::NoGradGuard no_grad;
  const auto flat = ids.reshape({-1});
  const auto extremes = at::aminmax(flat);
  const auto low = std::get<0>(extremes).item<int64_t>();
  const auto high = std::get<1>(extremes).item<int64_t>();
  if (low >= 0 && high < size) return;
  const auto bad = flat.lt(0).logical_or(flat.ge(size)).nonzero().flatten();  // positions in the flattened ids
  const auto index = bad[0].item<int64_t>();
  const auto columns = ids.dim() >= 2 ? ids.size(ids.dim() - 1) : ids.numel();
  TORCH_CHECK(false, "[ERR_SHAPE] ", what, ": token id ", flat[index].item<int64_t>(), " at row ", index / columns,
              ", position ", index % columns, " is outside [0, ", size, ") (", table, "); ", bad.numel(),
              " id(s) out of range in ", ids.sizes());
}

}  // namespace et
