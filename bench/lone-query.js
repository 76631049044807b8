// A lone query's latency with micro-batching on (default) and off, in one process: sequential
// forwardQuery calls on models/default (maxLength 32), blocks of BENCH_CALLS (default 200)
// alternating between two loads of the model for BENCH_ROUNDS (default 10) rounds; median and p90
// per call. With nothing else in flight, on must cost what off costs (the query is dispatched at once).
//   node bench/lone-query.js        Writes bench/results/lone-query.md.
"use strict";
const path = require("node:path");
const { loadPackage, stats, rotate, machine, table, preamble, writeResult, ROOT } = require("./common");

const CALLS = Number(process.env.BENCH_CALLS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const MODEL = path.join(ROOT, "models", "default");

(async () => {
  const et = loadPackage();
  et.setNumThreads(2);
  const variants = [];
  for (const [label, microBatching] of [["micro-batching on (default)", true], ["micro-batching off", false]])
    variants.push({ label, model: await et.TextToTextBertModel.fromPretrained(MODEL, { maxLength: 32, microBatching }), samples: [] });
  for (const v of variants) for (let i = 0; i < 50; i++) (await v.model.forwardQuery(`warm-up ${i}`)).dispose();
  for (let round = 0; round < ROUNDS; round++)
    for (const v of rotate(variants, round))
      for (let i = 0; i < CALLS; i++) {
        const t = process.hrtime.bigint();
        (await v.model.forwardQuery(`red running shoes ${i}`)).dispose();
        v.samples.push(Number(process.hrtime.bigint() - t) / 1e3);
      }
  const rows = variants.map((v) => {
    const s = stats(v.samples);
    return [v.label, s.median.toFixed(0), s.p90.toFixed(0), String(v.samples.length), JSON.stringify(v.model.microBatchStats.largestBatch)];
  });
  const text = [
    preamble("A lone query: micro-batching on vs off", "node bench/lone-query.js", machine(et.runtimeInfo()), [`models/default, maxLength 32, 2 intra-op threads; ${ROUNDS} rounds of ${CALLS} sequential forwardQuery calls per variant, alternating`]),
    table(["variant", "median µs", "p90 µs", "calls", "largest batch"], rows),
  ].join("\n");
  console.log(text);
  writeResult("lone-query.md", text);
  for (const v of variants) v.model.dispose();
})();
