// Tracing native modules into TorchScript files (model.pt for Triton's
// pytorch_libtorch backend), and saving TorchScript modules as they are.
//
// Used by the worker behind NativeModule.trace (workers.h). No Napi calls
// here (module.h brings napi.h's declarations only), so a C++ program can
// trace without Node.
//
// What a traced file holds: a torch::jit::Module "__torch__.<Class>" whose
// submodules mirror the nn::Module tree with the same registered names, whose
// weights are parameters (prim::GetAttr in the graph, listed by Python's
// named_parameters()), and whose forward takes the input names as arguments.
//
// Rule for NativeModel authors: the C++ tracer records tensor ops, not C++
// integers. `x.size(0)` is an int64_t, so a size read in C++ and passed to
// view/reshape/arange becomes a constant of the example's shape, and the file
// then fails (or silently computes garbage) for other batch sizes or lengths.
// Use -1 in view/reshape, flatten/unflatten, expand_as, and positions counted
// with cumsum over a [B, L] tensor instead of torch::arange(L).
// lib/trace.ts checks every trace on other batch sizes and lengths.
#pragma once
#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "module.h"

namespace et {

// A torch::jit::Module that mirrors `model`'s module tree and shares its
// parameter and buffer tensors (the same at::Tensor objects, not copies).
torch::jit::Module MirrorModule(torch::nn::Module& model, const std::shared_ptr<torch::jit::CompilationUnit>& unit);

// Traces model.forward_inputs on `inputs` into a module whose forward takes
// arguments `names` (each one of model.input_names(), in that order).
torch::jit::Module TraceNativeModel(NativeModel& model, const std::vector<std::string>& names,
                                    const std::vector<at::Tensor>& inputs);

// A native model traced on `inputs` (named `names`, a subset of
// input_names() in its order), or a TorchScript module unchanged, saved to
// `file`. Nothing is written when the trace fails.
void SaveTorchScript(ModuleHandle& handle, const std::vector<std::string>& names, const std::vector<at::Tensor>& inputs,
                     const std::string& file);

}  // namespace et
