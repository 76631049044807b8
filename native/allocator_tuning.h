// glibc malloc settings for libtorch's large CPU intermediates, applied once
// when the addon loads (README "Threads and BLAS").
#pragma once

namespace et {

// Unless EMBEDDINGS_TORCH_MALLOC=default, or the user set any of glibc's
// MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_ or
// MALLOC_ARENA_MAX: blocks up to 32 MiB come from the heap instead of a fresh
// mmap (which the kernel zeroes page by page on every forward), freed memory
// stays for reuse (trim threshold 1 GiB, top pad 256 MiB), and worker threads
// share the main arena so a block freed on one libuv thread serves the next
// forward on another. Returns whether it applied them. No-op off glibc.
bool TuneAllocator();

}  // namespace et
