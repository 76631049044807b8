// `require("embeddings-torch")` time: fresh Node processes that require a
// package's dist/, then make the first call that needs libtorch, as a user's
// service pays at every start. Also counts the python3 processes they start
// (a counting python3 first in PATH).
//   node bench/require-time.js [label=packageDir ...]   (default: this repository)
// Writes bench/results/require-time.md.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { stats, machine, table, preamble, writeResult, ROOT } = require("./common");

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const targets = (process.argv.slice(2).length ? process.argv.slice(2) : [`this=${ROOT}`]).map((arg) => {
  const [label, dir] = arg.includes("=") ? arg.split("=") : [path.basename(arg), arg];
  return { label, dist: path.resolve(dir, "dist") };
});

// A python3 that counts its runs, then does what the real one would.
const shim = fs.mkdtempSync(path.join(os.tmpdir(), "et-require-"));
const counter = path.join(shim, "runs");
const real = spawnSync("sh", ["-c", "command -v python3"], { encoding: "utf8" }).stdout.trim() || "/usr/bin/python3";
fs.writeFileSync(path.join(shim, "python3"), `#!/bin/sh\necho run >> ${JSON.stringify(counter)}\nexec ${JSON.stringify(real)} "$@"\n`, { mode: 0o755 });

// ms to require, then ms to the first call that needs libtorch (runtimeInfo(): the addon and libtorch load).
const script = (dist) =>
  `const t = process.hrtime.bigint(); const et = require(${JSON.stringify(dist)}); const r = process.hrtime.bigint(); et.runtimeInfo(); ` +
  `console.log(Number(r - t) / 1e6, Number(process.hrtime.bigint() - r) / 1e6);`;
const samples = new Map(targets.map((t) => [t.label, []]));
const firstCall = new Map(targets.map((t) => [t.label, []]));
const pythonRuns = new Map(targets.map((t) => [t.label, 0]));
for (let round = 0; round < ROUNDS; round++) {
  for (const target of round % 2 ? [...targets].reverse() : targets) {
    fs.rmSync(counter, { force: true });
    const env = { ...process.env, PATH: `${shim}:${process.env.PATH}`, EMBEDDINGS_TORCH_CACHE_DIR: path.join(shim, "cache") };
    const child = spawnSync(process.execPath, ["-e", script(target.dist)], { env, encoding: "utf8" });
    if (child.status !== 0) throw new Error(`${target.label}: ${child.stderr}`);
    const [requireMs, firstMs] = child.stdout.trim().split("\n").at(-1).split(" ").map(Number);
    samples.get(target.label).push(requireMs);
    firstCall.get(target.label).push(firstMs);
    pythonRuns.set(target.label, pythonRuns.get(target.label) + (fs.existsSync(counter) ? fs.readFileSync(counter, "utf8").split("\n").filter(Boolean).length : 0));
  }
}
fs.rmSync(shim, { recursive: true, force: true });

const rows = targets.map((t) => {
  const s = stats(samples.get(t.label));
  const f = stats(firstCall.get(t.label));
  return [t.label, s.median.toFixed(1), s.p90.toFixed(1), f.median.toFixed(1), (pythonRuns.get(t.label) / ROUNDS).toFixed(1)];
});
const text = [
  preamble("require() time", `node bench/require-time.js ${process.argv.slice(2).join(" ")}`.trim(), machine(require(targets[0].dist).runtimeInfo())),
  `Fresh processes, ${ROUNDS} rounds alternating. \`require\`: ms from before \`require("embeddings-torch")\` to after; first call: ms of the first call that needs libtorch after it (\`runtimeInfo()\`: the addon and libtorch load); python3 runs: processes started by both, per process.`,
  "",
  table(["package", "require, median ms", "require, p90 ms", "first call, median ms", "python3 runs"], rows),
].join("\n");
console.log(text);
writeResult("require-time.md", text);
