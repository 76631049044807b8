#!/usr/bin/env node
// libtorch's include folders, library folder and ABI flag for binding.gyp,
// found in the same order as cmake/FindLibtorch.cmake: LIBTORCH, Torch_DIR,
// a Python with torch, the system (Debian's libtorch-dev).
//   node scripts/torch-paths.js include|libdir|libs|defines|c10d-defines|c10d-includes|onednn-defines|onednn-libs|openmp-cflags|describe
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

function fromPython() {
  for (const python of [process.env.EMBEDDINGS_TORCH_PYTHON, "python3", "/usr/bin/python3"].filter(Boolean)) {
    try {
      const out = execFileSync(python, ["-c", "import torch, os, sys; sys.stdout.write(os.path.dirname(torch.__file__) + '\\n' + str(int(torch.compiled_with_cxx11_abi())))"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      const [root, abi] = out.split("\n");
      // Debian's python3-torch has no include/ of its own: its headers are the system's.
      if (root && fs.existsSync(path.join(root, "include", "torch"))) return { root, abi: abi || "1", origin: `python torch (${python})` };
    } catch {
      // that interpreter is absent or has no torch: try the next one
    }
  }
  return undefined;
}

function find() {
  if (process.env.LIBTORCH) return { root: process.env.LIBTORCH, abi: "1", origin: "LIBTORCH" };
  if (process.env.Torch_DIR) return { root: path.resolve(process.env.Torch_DIR, "../../.."), abi: "1", origin: "Torch_DIR" };
  const py = fromPython();
  if (py) return py;
  return { root: "/usr", abi: "1", origin: "system", libdir: "/usr/lib/x86_64-linux-gnu" };
}

const torch = find();
const libdir = torch.libdir || path.join(torch.root, "lib");
const include = [path.join(torch.root, "include"), path.join(torch.root, "include", "torch", "csrc", "api", "include")];
const cuda = fs.existsSync(path.join(libdir, "libtorch_cuda.so"));
const libs = ["torch", "torch_cpu", "c10", ...(cuda ? ["torch_cuda", "c10_cuda"] : [])];

// c10d's Gloo headers (data-parallel training, native/process_group.cc): as cmake/FindC10dGloo.cmake.
function c10dGloo() {
  const roots = [...include, "/usr/include", "/usr/local/include"];
  const c10d = include.some((d) => fs.existsSync(path.join(d, "torch", "csrc", "distributed", "c10d", "ProcessGroupGloo.hpp")));
  const gloo = roots.find((d) => fs.existsSync(path.join(d, "gloo", "algorithm.h")));
  return c10d && gloo ? gloo : undefined;
}

// c10d's NCCL group (data-parallel training of CUDA models): as cmake/FindC10dNccl.cmake.
// { dirs } (the include folders of nccl.h and the CUDA headers ProcessGroupNCCL.hpp includes,
// system folders left out) when found, else { why }.
function c10dNccl() {
  if (!include.some((d) => fs.existsSync(path.join(d, "torch", "csrc", "distributed", "c10d", "ProcessGroupNCCL.hpp")))) return { why: "libtorch has no ProcessGroupNCCL.hpp" };
  const torchCuda = path.join(libdir, "libtorch_cuda.so");
  if (!fs.existsSync(torchCuda)) return { why: `libtorch is a CPU build (no libtorch_cuda in ${libdir})` };
  // torch/version.h (newer libtorch: it includes torch/headeronly/version.h, which defines it)
  const versionFiles = include.flatMap((d) => [path.join(d, "torch", "version.h"), path.join(d, "torch", "headeronly", "version.h")]).filter((f) => fs.existsSync(f));
  const major = Number(versionFiles.map((f) => /#define TORCH_VERSION_MAJOR (\d+)/.exec(fs.readFileSync(f, "utf8"))?.[1]).find((m) => m !== undefined));
  if (!(major >= 2)) return { why: `libtorch ${Number.isNaN(major) ? "of unknown version" : major + ".x"}: the NCCL code was written against the 2.x API` };
  let exported = false;
  try {
    // nm -D reads only the dynamic symbol table (fast on a 1 GB library).
    exported = execFileSync("nm", ["-D", "--defined-only", torchCuda], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 1 << 30 }).includes("c10d16ProcessGroupNCCL");
  } catch {
    // no nm: not proven, left out
  }
  if (!exported) return { why: `${torchCuda} exports no c10d::ProcessGroupNCCL (libtorch built without NCCL, or no nm to tell)` };
  const site = path.dirname(torch.root);  // pip: site-packages (torch.root is site-packages/torch)
  const hints = [
    ...include,
    ...(process.env.NCCL_INCLUDE_DIR ? [process.env.NCCL_INCLUDE_DIR] : []),
    ...["nccl", "cu13", "cu12", "cuda_runtime", "cublas", "cusparse", "cusolver"].map((p) => path.join(site, "nvidia", p, "include")),
    "/usr/local/cuda/include",
    "/usr/include",
  ];
  const dirs = [];
  for (const header of ["nccl.h", "cuda_runtime_api.h", "cublas_v2.h", "cusparse.h", "cusolverDn.h"]) {
    const dir = hints.find((d) => fs.existsSync(path.join(d, header)));
    if (!dir) return { why: `${header} not found (looked in libtorch's include folders, site-packages/nvidia/*/include, /usr/local/cuda/include, NCCL_INCLUDE_DIR)` };
    const real = fs.realpathSync(dir);
    if (!/^\/usr(\/local)?\/include$/.test(real) && !dirs.includes(real)) dirs.push(real);  // -I/usr/include breaks libstdc++'s #include_next
  }
  return { dirs };
}

// oneDNN for packed-weight inference GEMMs (native/models/onednn_matmul.cc): as
// cmake/FindOneDnn.cmake, only where libtorch_cpu itself links a shared libdnnl.
function oneDnn() {
  const header = [...include, "/usr/include", "/usr/local/include"].some((d) => fs.existsSync(path.join(d, "oneapi", "dnnl", "dnnl.hpp")));
  const library = [libdir, "/usr/lib/x86_64-linux-gnu", "/usr/lib"].map((d) => path.join(d, "libdnnl.so.2")).find((f) => fs.existsSync(f));
  let linked = false;
  try {
    linked = /NEEDED[^\n]*libdnnl\.so/.test(execFileSync("readelf", ["-d", path.join(libdir, "libtorch_cpu.so")], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch {
    // no readelf or no libtorch_cpu.so there: not proven, left out
  }
  return header && library && linked ? library : undefined;
}

// -fopenmp where node-gyp compiles with GCC, as CMakeLists.txt: at::parallel_for
// in the addon's sources parallelises only when compiled with it, and GCC's
// regions call the libgomp that libtorch links (Clang's would need libomp).
function openmpCflags() {
  const compiler = process.env.CXX || "g++";
  try {
    const version = execFileSync(compiler, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return /clang/i.test(version) || !/Free Software Foundation|\bGCC\b/.test(version) ? "" : "-fopenmp";
  } catch {
    return "";  // no such compiler here: node-gyp will say so itself
  }
}

switch (process.argv[2]) {
  case "include": console.log(include.join(" ")); break;
  case "libdir": console.log(libdir); break;
  case "libs": console.log(libs.map((l) => `-l${l}`).join(" ")); break;
  case "defines": console.log(`_GLIBCXX_USE_CXX11_ABI=${torch.abi}`); break;
  case "c10d-defines": {
    const gloo = c10dGloo();
    process.stderr.write(gloo ? `embeddings-torch: c10d Gloo headers found (gloo in ${gloo}): data-parallel training built (-DEMBEDDINGS_TORCH_C10D_GLOO -DUSE_C10D_GLOO)\n` : "embeddings-torch: c10d Gloo headers missing: data-parallel training of CPU models left out of this build; on Debian apt-get install libgloo-dev and rebuild\n");
    const nccl = c10dNccl();
    process.stderr.write(nccl.dirs ? `embeddings-torch: c10d NCCL found: data-parallel training of CUDA models built (-DEMBEDDINGS_TORCH_C10D_NCCL -DUSE_C10D_NCCL)\n` : `embeddings-torch: c10d NCCL left out (${nccl.why}): CUDA models cannot train data-parallel with this build\n`);
    console.log([...(gloo ? ["EMBEDDINGS_TORCH_C10D_GLOO", "USE_C10D_GLOO"] : []), ...(nccl.dirs ? ["EMBEDDINGS_TORCH_C10D_NCCL", "USE_C10D_NCCL"] : [])].join(" "));
    break;
  }
  case "c10d-includes": console.log((c10dNccl().dirs ?? []).join(" ")); break;
  case "onednn-defines": {
    const library = oneDnn();
    process.stderr.write(library ? `embeddings-torch: oneDNN found (${library}, linked by libtorch_cpu): built in (-DEMBEDDINGS_TORCH_ONEDNN); inference GEMMs use it where its kernel packs weights (README \"Inference path\")\n` : "embeddings-torch: oneDNN left out: inference GEMMs on at::addmm (on AVX-512/AMX CPUs oneDNN packs weights once: on Debian apt-get install libdnnl-dev and rebuild)\n");
    console.log(library ? "EMBEDDINGS_TORCH_ONEDNN" : "");
    break;
  }
  case "openmp-cflags": console.log(openmpCflags()); break;
  case "onednn-libs": {
    const library = oneDnn();
    console.log(library ? `-l:${path.basename(library)}` : "");
    break;
  }
  default: console.log(`libtorch from ${torch.origin}: ${torch.root} (lib ${libdir}${cuda ? ", CUDA" : ""})`);
}
