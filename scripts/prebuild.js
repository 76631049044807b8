#!/usr/bin/env node
// Copies the addon built in build/Release into prebuilds/ and records it in
// prebuilds/manifest.json with the native interface version it implements,
// the libtorch (and CUDA) it links, the highest glibc / libstdc++ symbol
// versions it needs, and the hash of the native sources it was built from.
//
// Rules (README "Prebuilds"):
// - whenever native/, cmake/, CMakeLists.txt or binding.gyp change, rebuild
//   and commit the CPU prebuild on Debian 12 with Debian's libtorch:
//     npm run build:native && npm run prebuild:cpu
//   test/e2e/prebuild.test.ts fails while the committed CPU prebuild is stale;
// - the CUDA prebuild (scripts/gpu-check.sh runs this with --cuda on a GPU
//   machine) need only match the interface version
//   (native/interface_version.h), and needs at most glibc 2.28.
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { nativeHash } = require("./native-hash.js");
const { elfNeeds } = require("./elf-needs.js");

const root = path.resolve(__dirname, "..");
const built = path.join(root, "build", "Release", "embeddings_torch.node");
if (!fs.existsSync(built)) {
  console.error(`prebuild: ${built} does not exist; run npm run build:native first`);
  process.exit(1);
}
process.env.OMP_WAIT_POLICY ??= "PASSIVE";
const info = require(built).runtimeInfo();
const hash = nativeHash(root);
if (info.nativeHash !== hash) {
  console.error(`prebuild: build/Release was built from other sources (${info.nativeHash.slice(0, 12)}) than the tree's (${hash.slice(0, 12)}); rebuild first`);
  process.exit(1);
}
const cudaFlag = process.argv.includes("--cuda");
const cuda = cudaFlag ? (process.argv[process.argv.indexOf("--cuda") + 1] ?? "unknown") : null;
const version = info.torchVersion;
const rel = cuda
  ? path.posix.join("cuda", `${process.platform}-${process.arch}-torch${version}-cu${cuda.replace(".", "")}`, "embeddings-torch.napi.node")
  : path.posix.join(`${process.platform}-${process.arch}`, "embeddings-torch.napi.node");
const target = path.join(root, "prebuilds", rel);
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.copyFileSync(built, target);
// Symbols are not needed to load or debug through libtorch's own messages; stripping halves the file.
const hasStrip = ["/usr/bin/strip", "/bin/strip"].some((f) => fs.existsSync(f));
if (hasStrip) execFileSync("strip", ["--strip-unneeded", target]);

const manifestFile = path.join(root, "prebuilds", "manifest.json");
const manifest = fs.existsSync(manifestFile) ? JSON.parse(fs.readFileSync(manifestFile, "utf8")) : [];
const needs = elfNeeds(target);
const entry = {
  file: rel,
  platform: process.platform,
  arch: process.arch,
  interfaceVersion: require(built).interfaceVersion,
  interfaceRevision: require(built).interfaceRevision ?? 1,
  torchVersion: version,
  cuda,
  glibc: needs.glibc,
  glibcxx: needs.glibcxx,
  nativeHash: hash,
  builtWith: `${info.torchSource}; node ${process.versions.node}; ${fs.existsSync("/etc/debian_version") ? `debian ${fs.readFileSync("/etc/debian_version", "utf8").trim()}` : process.platform}`,
};
const next = manifest.filter((e) => e.file !== rel).concat(entry).sort((a, b) => a.file.localeCompare(b.file));
fs.writeFileSync(manifestFile, `${JSON.stringify(next, null, 2)}\n`);
console.log(`prebuild: ${rel} (${(fs.statSync(target).size / 1e6).toFixed(1)} MB) for libtorch ${version}${cuda ? ` CUDA ${cuda}` : " CPU"}, interface ${entry.interfaceVersion}.${entry.interfaceRevision}, glibc ${needs.glibc}, libstdc++ ${needs.glibcxx ?? "static"}, sources ${hash.slice(0, 12)}`);
