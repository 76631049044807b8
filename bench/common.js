// Shared by bench/boundary.js and bench/text.js: statistics, machine description,
// markdown tables and result files. Plain CommonJS over the compiled package
// (../dist), so the benchmarks need no TypeScript runner.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");

/** The package as users get it (npm run build:ts first). */
function loadPackage() {
  const dist = path.join(ROOT, "dist", "index.js");
  if (!fs.existsSync(dist)) throw new Error(`${dist} is missing: run npm run build:ts (and npx cmake-js build for the addon) first`);
  return require(dist);
}

function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function stats(samples) {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  // min by reduce, not Math.min(...samples): a service run's millions of latencies overflow the call stack as arguments.
  return { n: samples.length, median: quantile(samples, 0.5), p90: quantile(samples, 0.9), mean, min: samples.reduce((a, b) => Math.min(a, b), Infinity) };
}

/** Wall-clock seconds of one awaited call. */
async function timeAsync(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * BENCH_BASELINE=label=dir,...: other package folders (each with dist/ and its addon) timed as extra
 * "ours" engines in the same run, e.g. main=/tmp/et-main for the previous version; a bare dir is
 * labelled by its folder name.
 */
function baselinePackages() {
  return (process.env.BENCH_BASELINE ?? "").split(",").filter(Boolean).map((entry) => {
    const [label, dir] = entry.includes("=") ? entry.split("=") : [path.basename(entry), entry];
    return { label, dir: path.resolve(dir) };
  });
}

/** Rotates `list` by `r`: round r starts with a different implementation, so none always runs first. */
function rotate(list, r) {
  const k = r % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

function machine(runtimeInfo) {
  const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown";
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.split(" ") ?? [];
  const simd = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"].filter((f) => flags.includes(f)).join(", ");
  return {
    nproc: os.availableParallelism(),
    cpu: model,
    simd,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(" "),
    node: process.version,
    torch: runtimeInfo.torchVersion,
    torchSource: runtimeInfo.torchSource,
    ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? "(unset)",
  };
}

function table(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Header every result file starts with: how to reproduce it and on what it ran. */
function preamble(title, command, m, extra = []) {
  return [
    `# ${title}`,
    "",
    `- command: \`${command}\``,
    `- date: ${new Date().toISOString()}`,
    `- machine: ${m.nproc} CPUs (nproc), ${m.cpu} (${m.simd}), ${m.memoryGiB} GiB; load average at start ${m.loadavg}`,
    `- software: Node ${m.node}, libtorch ${m.torch} (${m.torchSource}), OMP_WAIT_POLICY=${m.ompWaitPolicy}`,
    ...extra.map((e) => `- ${e}`),
    "",
  ].join("\n");
}

function writeResult(name, text) {
  const file = path.join(ROOT, "bench", "results", name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text.endsWith("\n") ? text : `${text}\n`);
  return file;
}

const fmt = {
  us: (s) => (s * 1e6).toFixed(1),
  ms: (s) => (s * 1e3).toFixed(s < 0.01 ? 2 : 1),
};

/**
 * The "time" command of the engine processes (text-ours.js, text-transformersjs.js): `warmup`
 * untimed calls, then `iters` calls each timed around the call alone; `release` frees a result
 * outside the timing. Minor page faults per call: fresh pages the allocator mapped (and the
 * kernel zeroed) for it.
 */
async function timeCalls(call, iters, warmup = 0, release = () => {}) {
  for (let i = 0; i < warmup; i++) release(await call());
  const samples = [];
  const faults = process.resourceUsage().minorPageFault;
  for (let i = 0; i < iters; i++) {
    const start = process.hrtime.bigint();
    const out = await call();
    samples.push(Number(process.hrtime.bigint() - start) / 1e9);
    release(out);
  }
  return { samples, faults_per_call: (process.resourceUsage().minorPageFault - faults) / Math.max(1, iters) };
}

/**
 * The line-delimited JSON loop of the engine processes (text-ours.js, text-transformersjs.js):
 * one request per stdin line, `{"cmd": name, ...}`, answered by `handlers[name](msg)` as one
 * `{"ok": true, ...reply}` line; "quit" runs `handlers.quit` (if any), answers, and exits (stdin
 * would keep the process alive); an unknown command is answered `{"ok": false, "error": ...}`;
 * a handler that throws ends the process with exit code 1.
 */
function serveEngine(handlers) {
  const readline = require("node:readline");
  const write = (body) => process.stdout.write(`${JSON.stringify(body)}\n`);
  (async () => {
    for await (const line of readline.createInterface({ input: process.stdin })) {
      const msg = JSON.parse(line);
      if (msg.cmd === "quit") {
        await handlers.quit?.();
        process.stdout.write(`${JSON.stringify({ ok: true })}\n`, () => process.exit(0));
        return;
      }
      const handler = handlers[msg.cmd];
      if (handler) write({ ok: true, ...(await handler(msg)) });
      else write({ ok: false, error: `unknown command ${msg.cmd}` });
    }
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

module.exports = { ROOT, loadPackage, baselinePackages, quantile, stats, timeAsync, timeCalls, serveEngine, sleep, rotate, machine, table, preamble, writeResult, fmt };
