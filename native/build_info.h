// Facts fixed when the addon was built: the native sources' hash and where
// libtorch came from. Kept apart so a source change recompiles only this file.
#pragma once

namespace et {

const char* NativeSourceHash();  // scripts/native-hash.js over native/ and build files
const char* TorchSource();       // LIBTORCH=..., Torch_DIR=..., python torch, or system
const char* TorchLibDir();

}  // namespace et
