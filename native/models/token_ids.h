// Token ids checked against their embedding table before the lookup, on every
// device: an out-of-range id is an opaque index error on CPU and a device-side
// assert (which poisons the CUDA context) on GPU. One read-back of min and max;
// the first offending id is located only on failure. Skipped while tracing: a
// check on values cannot be recorded in a trace.
#pragma once
#include <torch/torch.h>

#include <string>

namespace et {

// Throws "[ERR_SHAPE] <what>: token id X at row r, position p is outside [0, size) (<table>)".
void CheckTokenIds(const at::Tensor& ids, int64_t size, const std::string& what, const std::string& table);

}  // namespace et
