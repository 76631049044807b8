#!/usr/bin/env node
// Prints the sha256 that identifies the native sources: every file under
// native/ plus CMakeLists.txt, binding.gyp and cmake/, sorted by path, hashed
// as "path\0sha256(content)\n". CMake compiles it into the addon
// (runtimeInfo().nativeHash) and prebuilds/manifest.json records it, so a
// test can tell a stale prebuild from a current one.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

function listFiles(root, rel) {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return [];
  if (fs.statSync(abs).isFile()) return [rel];
  return fs
    .readdirSync(abs)
    .flatMap((name) => listFiles(root, path.posix.join(rel, name)));
}

function nativeHash(root) {
  const files = ["native", "cmake", "CMakeLists.txt", "binding.gyp"].flatMap((rel) => listFiles(root, rel)).sort();
  const outer = crypto.createHash("sha256");
  for (const rel of files) {
    const inner = crypto.createHash("sha256").update(fs.readFileSync(path.join(root, rel))).digest("hex");
    outer.update(`${rel}\0${inner}\n`);
  }
  return outer.digest("hex");
}

module.exports = { nativeHash, listFiles };
if (require.main === module) {
  const root = path.resolve(process.argv[2] || path.join(__dirname, ".."));
  const arg = process.argv[3];
  if (arg === "--files") console.log(["native", "cmake", "CMakeLists.txt", "binding.gyp"].flatMap((r) => listFiles(root, r)).sort().join(";"));
  else process.stdout.write(nativeHash(root));
}
