#!/usr/bin/env node
// The highest GLIBC_ and GLIBCXX_ symbol versions a shared object needs (its
// dynamic symbols, objdump -T): the oldest C and C++ runtimes it loads with.
// scripts/prebuild.js records them in prebuilds/manifest.json; the loader
// compares glibc with the machine's before choosing a CUDA prebuild.
//   node scripts/elf-needs.js <file.node>   → {"glibc":"2.28","glibcxx":"3.4.25"}
"use strict";
const { execFileSync } = require("node:child_process");
const { compareVersions } = require("../lib/compare-versions.js");  // plain CommonJS: no build needed

function highest(text, prefix) {
  const versions = [...text.matchAll(new RegExp(`\\(${prefix}_([0-9.]+)\\)`, "g"))].map((m) => m[1]);
  return versions.sort(compareVersions).at(-1) ?? null;
}

/** { glibc, glibcxx }: the highest version of each that `file` needs, null where it needs none. */
function elfNeeds(file) {
  const text = execFileSync("objdump", ["-T", file], { encoding: "utf8", maxBuffer: 1 << 28 });
  return { glibc: highest(text, "GLIBC"), glibcxx: highest(text, "GLIBCXX") };
}

module.exports = { elfNeeds };
if (require.main === module) console.log(JSON.stringify(elfNeeds(process.argv[2])));
