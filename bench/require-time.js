// `require("embeddings-torch")` time: fresh Node processes that require a
// package's dist/ (the addon loads at require time, libtorch with it), as a
// user's service pays at every start. Also counts the python3 processes each
// require starts (a counting python3 first in PATH).
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

const script = (dist) => `const t = process.hrtime.bigint(); require(${JSON.stringify(dist)}); console.log(Number(process.hrtime.bigint() - t) / 1e6);`;
const samples = new Map(targets.map((t) => [t.label, []]));
const pythonRuns = new Map(targets.map((t) => [t.label, 0]));
for (let round = 0; round < ROUNDS; round++) {
  for (const target of round % 2 ? [...targets].reverse() : targets) {
    fs.rmSync(counter, { force: true });
    const env = { ...process.env, PATH: `${shim}:${process.env.PATH}`, EMBEDDINGS_TORCH_CACHE_DIR: path.join(shim, "cache") };
    const child = spawnSync(process.execPath, ["-e", script(target.dist)], { env, encoding: "utf8" });
    if (child.status !== 0) throw new Error(`${target.label}: ${child.stderr}`);
    samples.get(target.label).push(Number(child.stdout.trim().split("\n").at(-1)));
    pythonRuns.set(target.label, pythonRuns.get(target.label) + (fs.existsSync(counter) ? fs.readFileSync(counter, "utf8").split("\n").filter(Boolean).length : 0));
  }
}
fs.rmSync(shim, { recursive: true, force: true });

const rows = targets.map((t) => {
  const s = stats(samples.get(t.label));
  return [t.label, s.median.toFixed(1), s.p90.toFixed(1), s.min.toFixed(1), (pythonRuns.get(t.label) / ROUNDS).toFixed(1)];
});
const text = [
  preamble("require() time", `node bench/require-time.js ${process.argv.slice(2).join(" ")}`.trim(), machine(require(targets[0].dist).runtimeInfo())),
  `Fresh processes, ${ROUNDS} rounds alternating; ms from before \`require\` to after (the addon and libtorch load inside it).`,
  "",
  table(["package", "median ms", "p90 ms", "min ms", "python3 runs per require"], rows),
].join("\n");
console.log(text);
writeResult("require-time.md", text);
