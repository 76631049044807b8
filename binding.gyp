{
  "targets": [
    {
      "target_name": "embeddings_torch",
      "sources": [
        "<!@(node -e \"const p=require('path');console.log(require('./scripts/native-hash.js').listFiles('.', 'native').filter(f=>f.endsWith('.cc')).join(' '))\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!@(node scripts/torch-paths.js include)",
        "<!@(node scripts/torch-paths.js c10d-includes)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!(node scripts/torch-paths.js defines)",
        "<!@(node scripts/torch-paths.js c10d-defines)",
        "<!@(node scripts/torch-paths.js onednn-defines)",
        "EMBEDDINGS_TORCH_SOURCE=\"node-gyp\"",
        "EMBEDDINGS_TORCH_NATIVE_HASH=\"<!(node scripts/native-hash.js)\""
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "<!@(node scripts/torch-paths.js openmp-cflags)"],
      "libraries": [
        "-L<!(node scripts/torch-paths.js libdir)",
        "<!@(node scripts/torch-paths.js libs)",
        "<!@(node scripts/torch-paths.js onednn-libs)",
        "-Wl,-rpath,<!(node scripts/torch-paths.js libdir)"
      ]
    }
  ]
}
