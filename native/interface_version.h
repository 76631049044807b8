// The version of the JS <-> native interface: the names, arguments and results
// of the bindings that lib/native.ts types. Bump it together with
// NATIVE_INTERFACE_VERSION in lib/native.ts (and prebuilds/interface.json,
// which test/e2e/native-interface.test.ts checks against the built addon)
// whenever that surface changes. A change inside the native code that leaves
// the surface alone keeps the number, so a prebuild built from older sources
// (the CUDA one, which only a GPU machine can rebuild) stays usable: the
// loader chooses prebuilds on this number (README "Prebuilds").
#pragma once

#define EMBEDDINGS_TORCH_INTERFACE_VERSION 1
