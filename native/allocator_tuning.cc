#include "allocator_tuning.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace et {

bool TuneAllocator() {
#if defined(__GLIBC__)
  const char* choice = std::getenv("EMBEDDINGS_TORCH_MALLOC");
  if (choice != nullptr && std::strcmp(choice, "default") == 0) return false;
  for (const char* own : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX"})
    if (std::getenv(own) != nullptr) return false;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
  mallopt(M_ARENA_MAX, 1);
  return true;
#else
  return false;
#endif
}

}  // namespace et
