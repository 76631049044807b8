// Benchmark support: times a module's forward inside C++ so bench/boundary
// can subtract it from the same forward awaited from JS (the boundary cost).
//
// [sync]  benchForward(module, inputs: Tensor[], iterations, mode = "no_grad") -> mean ns per forward
//           Runs on the JS thread under NoGradGuard (what forward(…, false)
//           does on a worker) or, with mode "inference_mode", c10::InferenceMode;
//           std::chrono::steady_clock around the loop only.
#pragma once
#include <napi.h>

namespace et {

void InitBench(Napi::Env env, Napi::Object exports);

}  // namespace et
