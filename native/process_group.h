// Data-parallel collectives on libtorch's c10d: a TCPStore rendezvous, a
// ProcessGroupGloo for CPU tensors and a ProcessGroupNCCL for CUDA tensors,
// driven from JS (lib/training/distributed/).
//
// Compiled where the build found c10d's Gloo headers or NCCL (cmake/FindC10dGloo.cmake,
// cmake/FindC10dNccl.cmake and scripts/torch-paths.js probe for them and define
// EMBEDDINGS_TORCH_C10D_GLOO/USE_C10D_GLOO and EMBEDDINGS_TORCH_C10D_NCCL/USE_C10D_NCCL,
// the c10d headers' own guards); c10dBackends says which ("gloo", "nccl", "gloo,nccl").
// Without either InitProcessGroup exports only c10dBackends "" and lib/training/distributed
// says why. Without Gloo the small CPU collectives go through the store (process_group.cc).
//
// Every call runs on the group's own thread, in the order JS issued it: the
// collectives keep the same order on every rank, and a collective that waits
// for a slow or dead peer holds that thread, never the libuv pool. Results
// come back as Promises through a thread-safe function.
//
// [async] NativeProcessGroup.create({masterAddr, masterPort, rank, worldSize, timeoutMs,
//           ifname?, hostname?}) -> Promise<NativeProcessGroup>
//           rank 0 serves the TCPStore; every rank announces itself and waits for the
//           others (a missing one fails naming its rank), then builds the Gloo group
//           bound to `ifname` (GLOO_SOCKET_IFNAME), else to `hostname`, else the default;
//           the NCCL group is made at the first collective on CUDA tensors
// [sync]  g.rank, g.worldSize
// [async] g.broadcastModules(modules: NativeModule[], root) -> Promise<undefined>
//           parameters then buffers of each module, in order, from `root` (CUDA tensors
//           through NCCL, CPU tensors through Gloo)
// [async] g.allreduceGradients(modules: NativeModule[], divisor, bucketBytes) -> Promise<undefined>
//           the trainable parameters (requires_grad, each tensor once): grads summed over
//           the ranks in flat buckets and divided by `divisor`; a parameter with no grad on
//           every rank keeps none, one with a grad somewhere gets zeros where it had none
// [async] g.allreduce(values: Float64Array, op: "sum"|"max"|"min") -> Promise<Float64Array>
// [async] g.barrier() -> Promise<undefined>
// [async] g.missingPeers(waitMs) -> Promise<number[]>  after a failed collective: the ranks
//           that did not report themselves alive through the store within waitMs
//           (every rank when the store on rank 0 is gone)
// [sync]  g.dispose()
#pragma once
#include <napi.h>

namespace et {

void InitProcessGroup(Napi::Env env, Napi::Object exports);

}  // namespace et
