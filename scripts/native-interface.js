#!/usr/bin/env node
// The JS <-> native surface of an addon: its exports and the methods and
// properties of the handles it creates (tensor, module, optimizer), as sorted
// names. prebuilds/interface.json records the surface of each interface
// version and revision (key "1" for version 1 revision 1, "1.2" for its
// revision 2); test/e2e/loader.test.ts fails when the built addon's surface
// differs from the one recorded for its version and revision, i.e. when the
// interface changed without a new number (native/interface_version.h), and
// when a revision removes anything its predecessor had.
//   node scripts/native-interface.js <addon.node>            prints the surface
//   node scripts/native-interface.js <addon.node> --record   records it for the addon's version
"use strict";
const fs = require("node:fs");
const path = require("node:path");

function names(object) {
  const own = Object.getOwnPropertyNames(object).filter((n) => !["constructor", "length", "name", "prototype", "arguments", "caller"].includes(n));
  return own.map((n) => `${n}:${typeof Object.getOwnPropertyDescriptor(object, n).get === "function" ? "get" : typeof object[n]}`).sort();
}

/** The interface.json key of a version and revision: "1", "1.2". */
function surfaceKey(version, revision) {
  return revision > 1 ? `${version}.${revision}` : String(version);
}

/** { version, revision, exports, tensor, module, optimizer }: what lib/native.ts relies on. */
function surface(addon) {
  const tensor = addon.NativeTensor.fromBuffer(new Float32Array(2), [1, 2], "float32", "cpu", false);
  const module = addon.NativeModule.create("mlp", { in_features: 2, hidden_features: 2, out_features: 1 });
  const optimizer = addon.NativeOptimizer.create("sgd", [{ module }], { lr: 0.1 });
  try {
    return {
      version: addon.interfaceVersion ?? 1,
      revision: addon.interfaceRevision ?? 1,
      // The markers are not part of what they version.
      exports: names(addon).filter((n) => !n.startsWith("interfaceVersion:") && !n.startsWith("interfaceRevision:")),
      NativeTensor: names(addon.NativeTensor),
      NativeModule: names(addon.NativeModule),
      NativeOptimizer: names(addon.NativeOptimizer),
      tensor: names(Object.getPrototypeOf(tensor)),
      module: names(Object.getPrototypeOf(module)),
      optimizer: names(Object.getPrototypeOf(optimizer)),
    };
  } finally {
    optimizer.dispose();
    module.dispose();
    tensor.dispose();
  }
}

module.exports = { surface, surfaceKey };
if (require.main === module) {
  process.env.OMP_WAIT_POLICY ??= "PASSIVE";
  const found = surface(require(path.resolve(process.argv[2])));
  if (process.argv.includes("--record")) {
    const file = path.join(__dirname, "..", "prebuilds", "interface.json");
    const recorded = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
    recorded[surfaceKey(found.version, found.revision)] = found;
    fs.writeFileSync(file, `${JSON.stringify(recorded, null, 2)}\n`);
    console.log(`recorded interface version ${found.version} revision ${found.revision} in ${file}`);
  } else console.log(JSON.stringify(found, null, 2));
}
