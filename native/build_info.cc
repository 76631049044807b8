#include "build_info.h"

#ifndef EMBEDDINGS_TORCH_NATIVE_HASH
#define EMBEDDINGS_TORCH_NATIVE_HASH "unknown"
#endif
#ifndef EMBEDDINGS_TORCH_SOURCE
#define EMBEDDINGS_TORCH_SOURCE "unknown"
#endif
#ifndef EMBEDDINGS_TORCH_LIB_DIR
#define EMBEDDINGS_TORCH_LIB_DIR ""
#endif

namespace et {

const char* NativeSourceHash() { return EMBEDDINGS_TORCH_NATIVE_HASH; }
const char* TorchSource() { return EMBEDDINGS_TORCH_SOURCE; }
const char* TorchLibDir() { return EMBEDDINGS_TORCH_LIB_DIR; }

}  // namespace et
