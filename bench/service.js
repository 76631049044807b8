// A Node service under load: an HTTP server on 127.0.0.1 that embeds each
// request's query, 32 keep-alive connections sending short queries for
// BENCH_SECONDS (default 30, in BENCH_ROUNDS = 3 rounds alternating between the
// engines), with and without one 1 MB query a second, and one connection alone
// (a lone query's latency).
// Engines, each its own server process, measured in one run:
//   - per package given: forwardQuery with micro-batching on (the default),
//     on with `maxWaitMs: 2`, and off (`microBatching: false`, one forward per request);
//   - onnxruntime-node on torch.onnx.export of the same weights (bench/python,
//     /usr/bin/python3 with PyTorch), fed our tokenizer's ids, one session.run
//     per request; skipped with the reason printed when PyTorch or
//     onnxruntime-node (npm run bench:setup) is missing.
// Every server: 2 intra-op threads, OMP_WAIT_POLICY=PASSIVE. Reports req/s,
// p50/p99 latency of the short queries, the server's event-loop delay
// (perf_hooks.monitorEventLoopDelay) and, for ours, queries per forward.
// Outputs are checked against each other before timing.
//   node bench/service.js [label=packageDir ...]   (default: this repository)
//   BENCH_MODEL=bert-base node bench/service.js    (random BERT-base-shaped weights, as bench/text.js)
// Writes bench/results/service.md (service-<BENCH_MODEL>.md for another model). Only 127.0.0.1 is contacted; every loop is bounded in time.
"use strict";
const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { stats, rotate, machine, table, preamble, writeResult, ROOT } = require("./common");

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 32;
const THREADS = 2;
const MAX_LENGTH = 32;
// BENCH_MODEL: "default" (models/default) or a shape of bench/text.js ("bert-base", "minilm-l6"): random weights, made in bench/out.
const MODEL_KEY = process.env.BENCH_MODEL ?? "default";
let MODEL = path.join(ROOT, "models", "default");
const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";
const OUT = path.join(ROOT, "bench", "out", "service", MODEL_KEY); // git-ignored: checkpoint and .onnx export
const packages = (process.argv.slice(2).length ? process.argv.slice(2) : [`this=${ROOT}`]).map((arg) => {
  const [label, dir] = arg.includes("=") ? arg.split("=") : [path.basename(arg), arg];
  return { label, dist: path.resolve(dir, "dist") };
});

// argv: engine ("ours" | "onnxruntime"), package dist, model folder, micro-batching ("on" | "wait2" | "off") or the .onnx file, onnxruntime-node's path.
const SERVER = `
const http = require("node:http");
const { monitorEventLoopDelay } = require("node:perf_hooks");
const [engine, dist, dir, extra, ortPath] = process.argv.slice(1);
const et = require(dist);
et.setNumThreads(${THREADS});
async function load() {
  if (engine === "ours") {
    const model = await et.TextToTextBertModel.fromPretrained(dir, { maxLength: ${MAX_LENGTH}, microBatching: extra === "off" ? false : extra === "wait2" ? { maxWaitMs: 2 } : true });
    return { embed: (q) => model.forwardQuery(q).then((t) => { const v = t.toFloat32Array(); t.dispose(); return v; }), stats: () => model.microBatchStats ?? null };
  }
  const ort = require(ortPath);
  const session = await ort.InferenceSession.create(extra, { graphOptimizationLevel: "all", intraOpNumThreads: ${THREADS}, interOpNumThreads: 1, executionMode: "sequential" });
  const tokenizer = await et.TextTokenizer.fromPretrained(dir);
  return {
    embed: async (q) => {
      const e = tokenizer.encodeBatch([q], { maxLength: ${MAX_LENGTH}, padding: "longest" });
      const dims = [1, e.length];
      const out = await session.run({ input_ids: new ort.Tensor("int64", e.inputIds, dims), attention_mask: new ort.Tensor("int64", e.attentionMask, dims) });
      return out.pooler_output.data;
    },
    stats: () => null,
  };
}
load().then(({ embed, stats }) => {
  let delay = monitorEventLoopDelay({ resolution: 1 });
  const server = http.createServer((req, res) => {
    if (req.url === "/reset") { delay.disable(); delay = monitorEventLoopDelay({ resolution: 1 }); delay.enable(); res.end("ok"); return; }
    if (req.url === "/stats") { res.end(JSON.stringify({ p99: delay.percentile(99) / 1e6, max: delay.max / 1e6, batching: stats() })); return; }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      embed(Buffer.concat(chunks).toString("utf8")).then(
        (v) => res.end(req.url === "/vector" ? JSON.stringify(Array.from(v)) : String(v.length)),
        (e) => { res.statusCode = 500; res.end(String(e)); },
      );
    });
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\\n"));
}, (e) => { console.error(e); process.exit(1); });`;

function request(agent, port, pathName, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: pathName, method: "POST", agent }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function getJson(port, pathName) {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: pathName }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve(text.startsWith("{") ? JSON.parse(text) : text));
    }).on("error", reject);
  });
}

/** One slice of a scenario: `seconds` of load on one server; raw latencies and the server's counters. */
async function slice(port, { connections, big }, seconds) {
  await getJson(port, "/reset");
  const before = (await getJson(port, "/stats")).batching;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections + 1 });
  const latencies = [];
  const end = Date.now() + seconds * 1000;
  let failures = 0;
  const worker = async (id) => {
    for (let i = 0; Date.now() < end; i++) {
      const t = process.hrtime.bigint();
      const { status } = await request(agent, port, "/embed", `red running shoes ${id} ${i}`);
      if (status !== 200) failures++;
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  };
  const bigQueries = async () => {
    const text = "cheap red shoes ".repeat(65_536);  // 1 MiB
    while (Date.now() < end) {
      await request(agent, port, "/embed", text);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  await Promise.all([...Array.from({ length: connections }, (_, id) => worker(id)), ...(big ? [bigQueries()] : [])]);
  agent.destroy();
  const loop = await getJson(port, "/stats");
  const batched = before && loop.batching ? { queries: loop.batching.queries - before.queries, forwards: loop.batching.forwards - before.forwards } : null;
  return { latencies, seconds, loopP99: loop.p99, loopMax: loop.max, failures, batched };
}

/** A scenario's slices joined: req/s and latency quantiles over all of them, the worst event-loop slice. */
function summarize(slices) {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = slices.reduce((a, s) => a + s.seconds, 0);
  const batched = slices.every((s) => s.batched) ? slices.reduce((a, s) => ({ queries: a.queries + s.batched.queries, forwards: a.forwards + s.batched.forwards }), { queries: 0, forwards: 0 }) : null;
  return {
    rps: latencies.length / seconds,
    p50: stats(latencies).median,
    p99: latencies[Math.floor(latencies.length * 0.99)],
    loopP99: Math.max(...slices.map((s) => s.loopP99)),
    loopMax: Math.max(...slices.map((s) => s.loopMax)),
    failures: slices.reduce((a, s) => a + s.failures, 0),
    perForward: batched ? batched.queries / batched.forwards : null,
  };
}

/** The ONNX export of MODEL (pooler_output), or the reason there is none. */
async function exportOnnx() {
  let ortPath;
  try {
    ortPath = require.resolve("onnxruntime-node", { paths: [__dirname] });
  } catch {
    return { skip: "onnxruntime-node is not installed (npm run bench:setup)" };
  }
  const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0) return { skip: `${PYTHON} cannot import torch (${(probe.stderr || String(probe.error)).trim().split("\n").at(-1)}); set BENCH_PYTHON` };
  const { JsonLineServer, engineEnv } = require("./text");
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, "model.onnx");
  const py = new JsonLineServer("PyTorch", PYTHON, [path.join(__dirname, "python", "bench_text.py"), String(THREADS)], engineEnv(null));
  try {
    await py.request({ cmd: "load", config: path.join(MODEL, "config.json"), weights: path.join(MODEL, "model.safetensors") });
    await py.request({ cmd: "export", path: file });
  } finally {
    await py.close();
  }
  return { file, ortPath };
}

function startServer(args) {
  const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? "PASSIVE" };
  const server = spawn(process.execPath, ["-e", SERVER, ...args], { stdio: ["ignore", "pipe", "inherit"], env });
  const port = new Promise((resolve, reject) => {
    server.stdout.once("data", (d) => resolve(JSON.parse(String(d)).port));
    server.once("exit", (code) => reject(new Error(`server ${args[0]} exited with ${code}`)));
  });
  return { server, port };
}

/** models/default, or a random-weight checkpoint of bench/text.js's shape MODEL_KEY, written under OUT. */
async function prepareModel() {
  if (MODEL_KEY === "default") return "models/default (BERT, hidden 128, 4 layers; pooler_output)";
  const { makeCheckpoint, SHAPES } = require("./text");
  const shape = SHAPES.find((s) => s.key === MODEL_KEY);
  if (shape === undefined) throw new Error(`BENCH_MODEL=${MODEL_KEY}: expected default or one of ${SHAPES.map((s) => s.key).join(", ")}`);
  MODEL = path.join(OUT, "checkpoint");
  (await makeCheckpoint(require(packages[0].dist), shape, MODEL)).dispose();
  return `${shape.title}, random weights (seed 0), the bert-tiny tokenizer; pooler_output`;
}

(async () => {
  const modelTitle = await prepareModel();
  const onnx = await exportOnnx();
  if (onnx.skip) console.log(`onnxruntime-node skipped: ${onnx.skip}`);
  const engines = [];
  for (const p of packages) {
    engines.push({ label: `${p.label}, micro-batching on`, args: ["ours", p.dist, MODEL, "on"] });
    engines.push({ label: `${p.label}, micro-batching on, maxWaitMs 2`, args: ["ours", p.dist, MODEL, "wait2"] });
    engines.push({ label: `${p.label}, micro-batching off`, args: ["ours", p.dist, MODEL, "off"] });
  }
  if (!onnx.skip) engines.push({ label: `onnxruntime-node ${require(path.join(path.dirname(onnx.ortPath), "..", "package.json")).version}`, args: ["onnxruntime", packages[0].dist, MODEL, onnx.file, onnx.ortPath] });

  // Every server starts first and idles while another is measured; the scenarios then run in ROUNDS
  // rounds, each engine for SECONDS / ROUNDS per scenario per round, the order rotating each round, so
  // that the load other jobs put on this shared machine spreads over all engines alike.
  const servers = engines.map((engine) => ({ engine, ...startServer(engine.args) }));
  const rows = [];
  const parity = [];
  try {
    let reference;
    for (const s of servers) {
      s.port = await s.port;
      // Parity first: the same query's vector from every engine.
      const vector = JSON.parse((await request(undefined, s.port, "/vector", "red running shoes")).text);
      if (reference === undefined) reference = vector;
      else parity.push(`${s.engine.label} vs ${engines[0].label}: max abs diff ${Math.max(...vector.map((x, i) => Math.abs(x - reference[i]))).toExponential(1)}`);
      // Warm-up (not measured): the first forwards allocate and pick kernels.
      const warm = new http.Agent({ keepAlive: true, maxSockets: 8 });
      for (let i = 0; i < 25; i++) await Promise.all(Array.from({ length: 8 }, (_, j) => request(warm, s.port, "/embed", `warm-up ${i} ${j}`)));
      warm.destroy();
    }
    const scenarios = [
      [`${CONNECTIONS} connections, short queries`, { connections: CONNECTIONS, big: false }],
      ["+ one 1 MB query a second", { connections: CONNECTIONS, big: true }],
      ["1 connection (lone queries)", { connections: 1, big: false }],
    ];
    const results = servers.map(() => scenarios.map(() => []));
    for (let round = 0; round < ROUNDS; round++)
      for (const [k, [, scenario]] of scenarios.entries())
        for (const i of rotate([...servers.keys()], round)) results[i][k].push(await slice(servers[i].port, scenario, SECONDS / ROUNDS));
    for (const [i, s] of servers.entries())
      for (const [k, [name]] of scenarios.entries()) {
        const r = summarize(results[i][k]);
        rows.push([s.engine.label, name, r.rps.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), r.loopP99.toFixed(1), r.loopMax.toFixed(0), r.perForward === null ? "–" : r.perForward.toFixed(1), String(r.failures)]);
      }
  } finally {
    for (const s of servers) s.server.kill();
  }
  const text = [
    preamble("A service under load", `node bench/service.js ${process.argv.slice(2).join(" ")}`.trim(), machine(require(packages[0].dist).runtimeInfo()), [
      `${CONNECTIONS} keep-alive connections to 127.0.0.1 for ${SECONDS} s per scenario and engine, in ${ROUNDS} rounds of ${(SECONDS / ROUNDS).toFixed(0)} s alternating between the engines (all servers up, the others idle); model ${modelTitle}, maxLength ${MAX_LENGTH}; every server ${THREADS} intra-op threads`,
      "ours: TextToTextBertModel.forwardQuery per request, microBatching on (default: a query that finds no forward running goes at once), on with maxWaitMs 2, or false; onnxruntime-node: our tokenizer's ids, one session.run per request (CPU EP, graphOptimizationLevel all) on torch.onnx.export (opset 14) of the same weights",
      ...(onnx.skip ? [`onnxruntime-node skipped: ${onnx.skip}`] : []),
      ...parity.map((p) => `parity, query "red running shoes": ${p}`),
    ]),
    table(["engine", "scenario", "req/s", "p50 ms", "p99 ms", "event-loop delay p99 ms", "event-loop delay max ms", "queries per forward", "failed"], rows),
  ].join("\n");
  console.log(text);
  writeResult(MODEL_KEY === "default" ? "service.md" : `service-${MODEL_KEY}.md`, text);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
