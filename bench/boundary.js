// bench/boundary: what crossing the JS <-> libtorch boundary costs.
//  1. A forward of a trivial module (mlp 8 -> 16 -> 4, batch 1), awaited from JS
//     (per-call median and p90), against the same forward timed inside C++
//     (native benchForward: std::chrono around module->forward in a loop).
//  2. Copying 1M floats in (Tensor.from) and out (toFloat32Array), against
//     Float32Array.prototype.slice() (allocate + memcpy) as the one-copy baseline.
//  3. What the host application's own promises cost before and after serving
//     calls (forwardQuery, forwardItems on models/default), and after one
//     AsyncLocalStorage.run: on Node 20 that turns on promise hooks for the
//     whole process for good (lib/models/ownership.ts says why serving calls
//     enter no such context).
// Implementations alternate in rounds inside one process, so load from other
// processes hits them alike. Run: npm run bench:boundary
"use strict";
const { loadPackage, stats, rotate, machine, table, preamble, writeResult, sleep, fmt, ROOT } = require("./common");

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const FORWARD_CALLS = Number(process.env.BENCH_FORWARD_CALLS ?? 2000); // per implementation per round
const COPY_ELEMENTS = 1 << 20;
const COPY_CALLS = Number(process.env.BENCH_COPY_CALLS ?? 100); // per implementation per round
const THREADS = 2;

async function main() {
  const et = loadPackage();
  const { native } = require(`${ROOT}/dist/native`);
  et.setNumThreads(THREADS);
  const info = et.runtimeInfo();
  const m = machine(info);

  // --- 1. forward of a trivial module --------------------------------------
  const mlp = et.Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
  const x = et.Tensor.from(new Float32Array(8).fill(0.5), [1, 8]);
  const forward = {
    // The public API: TS facade (argument checks, output wrapping) + N-API + the trip to the compute thread and back.
    "JS `await module.forwardTensor([x])`": async () => (await mlp.forwardTensor([x])).dispose(),
    // The addon alone, without the TS facade.
    "JS `await native.forward([x], false)`": async () => (await mlp.native.forward([x.native], false)).dispose(),
  };
  const samples = Object.fromEntries(Object.keys(forward).map((k) => [k, []]));
  const cppMeans = [];
  for (const fn of Object.values(forward)) for (let i = 0; i < 200; i++) await fn(); // warm-up
  native().benchForward(mlp.native, [x.native], 1000);
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of rotate([...Object.keys(forward), "C++"], r)) {
      if (name === "C++") {
        cppMeans.push(native().benchForward(mlp.native, [x.native], FORWARD_CALLS) / 1e9);
        continue;
      }
      const fn = forward[name];
      const out = samples[name];
      for (let i = 0; i < FORWARD_CALLS; i++) {
        const start = process.hrtime.bigint();
        await fn();
        out.push(Number(process.hrtime.bigint() - start) / 1e9);
      }
    }
    await sleep(20);
  }
  const cpp = stats(cppMeans);
  const forwardRows = Object.entries(samples).map(([name, s]) => {
    const st = stats(s);
    return [name, fmt.us(st.median), fmt.us(st.p90), fmt.us(st.mean), fmt.us(st.median - cpp.median)];
  });
  forwardRows.push(["C++ `module->forward(inputs)` loop (native benchForward)", fmt.us(cpp.median), "–", fmt.us(cpp.mean), "0 (reference)"]);

  // --- 2. copies of 1M floats ------------------------------------------------
  const source = new Float32Array(COPY_ELEMENTS).map((_, i) => i * 0.25);
  const resident = et.Tensor.from(source, [COPY_ELEMENTS]);
  const target = new Float32Array(COPY_ELEMENTS);
  const copies = {
    // Pure memcpy into memory that is already mapped: the floor for any copy.
    "baseline `target.set(source)` (memcpy only)": () => target.set(source),
    // A fresh 4 MiB ArrayBuffer per call, as toFloat32Array makes; V8 frees them only at GC,
    // so new ones are fresh pages (page faults) more often than not.
    "baseline `source.slice()` (alloc + memcpy)": () => source.slice(),
    "in: `Tensor.from(f32, [1M])` + dispose": () => et.Tensor.from(source, [COPY_ELEMENTS]).dispose(),
    "out: `tensor.toFloat32Array()`": () => resident.toFloat32Array(),
    // The same copy in with one intra-op thread: libtorch splits a 4 MiB copy over its OpenMP
    // threads, which costs tail latency when another process holds the other core.
    "in: `Tensor.from(f32, [1M])` + dispose, setNumThreads(1)": () => et.Tensor.from(source, [COPY_ELEMENTS]).dispose(),
  };
  const copyThreads = (name) => (name.endsWith("setNumThreads(1)") ? 1 : THREADS);
  // Correctness of both directions before timing them.
  const back = et.Tensor.from(source, [COPY_ELEMENTS]);
  const roundTrip = back.toFloat32Array();
  back.dispose();
  if (roundTrip.length !== source.length || roundTrip.some((v, i) => v !== source[i])) throw new Error("copy round trip changed the data");
  const copySamples = Object.fromEntries(Object.keys(copies).map((k) => [k, []]));
  for (const fn of Object.values(copies)) for (let i = 0; i < 20; i++) fn();
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of rotate(Object.keys(copies), r)) {
      et.setNumThreads(copyThreads(name));
      for (let i = 0; i < COPY_CALLS; i++) {
        const start = process.hrtime.bigint();
        copies[name]();
        copySamples[name].push(Number(process.hrtime.bigint() - start) / 1e9);
      }
    }
    await sleep(20);
  }
  et.setNumThreads(THREADS);
  const baseline = stats(copySamples[Object.keys(copies)[0]]).median;
  const baselineMin = Math.min(...copySamples[Object.keys(copies)[0]]);
  const bytes = COPY_ELEMENTS * 4;
  const copyRows = Object.entries(copySamples).map(([name, s]) => {
    const st = stats(s);
    const min = Math.min(...s);
    return [name, fmt.us(st.median), fmt.us(st.p90), fmt.us(min), (bytes / st.median / 1e9).toFixed(2), (st.median / baseline).toFixed(2), (min / baselineMin).toFixed(2)];
  });

  resident.dispose();
  x.dispose();
  mlp.dispose();

  // --- 3. the host application's promises around serving calls -------------
  const { AsyncLocalStorage } = require("node:async_hooks");
  const awaitChain = async (n) => {
    for (let i = 0; i < n; i++) await null;
  };
  const nested = async (depth) => (depth === 0 ? 0 : (await nested(depth - 1)) + 1);
  const AWAITS = 20000;
  const NESTED_CALLS = 2000;
  const promiseCosts = async () => {
    const perAwait = [];
    const perNested = [];
    await awaitChain(AWAITS);
    for (let r = 0; r < ROUNDS; r++) {
      let start = process.hrtime.bigint();
      await awaitChain(AWAITS);
      perAwait.push(Number(process.hrtime.bigint() - start) / AWAITS);
      start = process.hrtime.bigint();
      for (let i = 0; i < NESTED_CALLS; i++) await nested(10);
      perNested.push(Number(process.hrtime.bigint() - start) / NESTED_CALLS);
    }
    return [stats(perAwait).median, stats(perNested).median];
  };
  const phases = [["before any serving call", await promiseCosts()]];
  const e5 = await et.TextToTextE5Model.fromPretrained(`${ROOT}/models/default`, { maxLength: 64 });
  for (let i = 0; i < 20; i++) {
    const [q, items] = await Promise.all([e5.forwardQuery("red running shoes"), e5.forwardItems(["leather boots", "a trail shoe"])]);
    q.dispose();
    items.dispose();
  }
  e5.dispose();
  phases.push(["after 20 × (forwardQuery + forwardItems) on models/default", await promiseCosts()]);
  new AsyncLocalStorage().run(0, () => undefined);  // what every forwardQuery did before 2026-12-08 (ownership.ts)
  phases.push(["after one `AsyncLocalStorage.run`", await promiseCosts()]);
  const promiseRows = phases.map(([name, [perAwait, perNested]]) => [name, perAwait.toFixed(0), (perNested / 1000).toFixed(2), (perAwait / phases[0][1][0]).toFixed(2)]);

  const forwardTable = table(["forward of mlp 8→16→4, batch 1", "median µs", "p90 µs", "mean µs", "overhead vs C++ (median) µs"], forwardRows);
  const copyTable = table(["copy of 1M float32 (4 MiB)", "median µs", "p90 µs", "min µs", "GB/s (median)", "× memcpy (median)", "× memcpy (min)"], copyRows);
  const command = "npm run bench:boundary   (= npm run build:ts && node bench/boundary.js; addon: npx cmake-js build)";
  const text = [
    preamble("bench/boundary: the cost of crossing the boundary", command, m, [
      `threads: setNumThreads(${THREADS}); ${ROUNDS} rounds, implementations rotated per round; forward: ${FORWARD_CALLS} calls per implementation per round (JS: one sample per call; C++: one mean per round, reported as the median of ${ROUNDS} round means); copies: ${COPY_CALLS} calls per round`,
    ]),
    "## Forward of a trivial module",
    "",
    forwardTable,
    "",
    "## Copies in and out (one copy per direction expected)",
    "",
    copyTable,
    "",
    "## The host application's promises, before and after serving calls",
    "",
    `Medians of ${ROUNDS} rounds: a chain of ${AWAITS} \`await null\`, and ${NESTED_CALLS} calls of an async function nesting 10 deep. Phases run in this order in one process (promise hooks, once on, stay on).`,
    "",
    table(["phase", "ns per await", "µs per 10 nested async calls", "× before"], promiseRows),
    "",
  ].join("\n");
  console.log(text);
  console.log(`written: ${writeResult("boundary.md", text)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
