// Small CPU inference forwards (a query: tens of rows) without OpenMP's wake-ups.
//
// A forward on OpenMP opens one parallel region per product (~60 for a MiniLM
// query). Under OMP_WAIT_POLICY=PASSIVE (../README.md "Threads and BLAS") each
// region wakes sleeping workers through the kernel and waits for them again;
// for a 16-token query that cost more than the second core saved (MiniLM 1x16:
// 4.8 ms on 2 threads against 4.0 ms on 1). Spinning OpenMP workers would fix
// the wake-ups, but every thread that runs OpenMP work keeps a team of its own
// and spinning teams take each other's cores.
//
// Instead, inside a SmallForwardScope the forward runs on one OpenMP thread,
// and each packed matrix product is split by column blocks across partner
// threads (OneDnnLinear, onednn_matmul.h) that spin, only while the scope is
// open, between the products of this one forward. The partners sleep on a
// condition variable outside any scope: nothing spins between forwards.
#pragma once
#include <cstdint>
#include <functional>

namespace et {

class SmallForwardScope {
 public:
  // Open where `eligible` (the inference path: UseInferencePath), the forward
  // has at most kMaxRows rows (batch x length), this thread runs OpenMP work on
  // two or more threads, the process may run on two or more CPUs, and no other
  // scope holds the partners (otherwise, and when nested in an open scope, the
  // forward runs as before). Parts: the thread count, at most the CPUs and 8.
  SmallForwardScope(bool eligible, int64_t rows);
  ~SmallForwardScope();
  SmallForwardScope(const SmallForwardScope&) = delete;
  SmallForwardScope& operator=(const SmallForwardScope&) = delete;

  // How many parts this thread may split a product into: the intra-op thread
  // count inside an open scope, 1 elsewhere.
  static int Parts();

  // Runs body(0 .. tasks - 1), each once, and returns when all have
  // finished; rethrows the exception of the first task that threw. This
  // thread and the scope's partners each claim the next unclaimed task until
  // none is left, so a partner that starts late (it was in a sched_yield, or
  // preempted) leaves its share to the others instead of holding up the
  // product. Outside an open scope the tasks run here, in order. A body must
  // not start OpenMP or ATen parallel work (the partners run one OpenMP
  // thread each); tasks <= kMaxTasks.
  static void Run(int tasks, const std::function<void(int)>& body);
  static constexpr int kMaxTasks = 64;

  // Scopes opened in this process (runtimeInfo().splitForwards).
  static uint64_t Opened();

  // A 16-token MiniLM query (16 rows) and CLIP's 77 positions gain, BERT-base
  // at 128 and 256 rows measured level with OpenMP; beyond 256 rows oneDNN's
  // row blocks (onednn_matmul.cc) would leave the products unsplit.
  static constexpr int64_t kMaxRows = 128;

 private:
  bool open_ = false;
  int saved_threads_ = 1;
};

}  // namespace et
