// The version of the JS <-> native interface: the names, arguments and results
// of the bindings that lib/native.ts types. Bump it together with
// NATIVE_INTERFACE_VERSION in lib/native.ts (and prebuilds/interface.json,
// which test/e2e/native-interface.test.ts checks against the built addon)
// whenever that surface changes. A change inside the native code that leaves
// the surface alone keeps the number, so a prebuild built from older sources
// (the CUDA one, which only a GPU machine can rebuild) stays usable: the
// loader chooses prebuilds on this number (README "Prebuilds").
//
// The revision counts additions that keep every existing binding as it was
// (a new export, a new method): bump it together with
// NATIVE_INTERFACE_REVISION in lib/native.ts and record the surface. An addon
// of an older revision of the same version still loads (the CUDA prebuild
// stays usable); the features that need the additions say which revision
// they need (lib/native.ts requireRevision). Removing or changing a binding
// is a new version.
#pragma once

#define EMBEDDINGS_TORCH_INTERFACE_VERSION 1
#define EMBEDDINGS_TORCH_INTERFACE_REVISION 3
