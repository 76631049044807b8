// Process-wide libtorch state: version and build facts, CUDA presence, threads,
// seeds, TF32.
//
// [sync] runtimeInfo() -> {torchVersion, torchSource, torchLibDir, cudaBuilt, cudaAvailable,
//                          deviceCount, numThreads, interopThreads, parallelInfo, architectures}
// [sync] cudaIsAvailable(), cudaDeviceCount(), cudaSynchronize(device?)
// [sync] manualSeed(seed), setNumThreads(n), getNumThreads()
// [sync] setAllowTF32(flag), getAllowTF32()   (cuBLAS and cuDNN together)
#pragma once
#include <napi.h>

namespace et {

void InitRuntime(Napi::Env env, Napi::Object exports);

}  // namespace et
