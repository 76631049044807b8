// A Node service under load: an HTTP server on 127.0.0.1 that embeds each
// request's query with forwardQuery, 32 keep-alive connections sending short
// queries for BENCH_SECONDS (default 30), with and without one 1 MB query a
// second. Reports requests/s, p50/p99 latency of the short queries and the
// server's event-loop delay p99 (perf_hooks.monitorEventLoopDelay), per
// package given, in one run.
//   node bench/service.js [label=packageDir ...]   (default: this repository)
// Writes bench/results/service.md. Only 127.0.0.1 is contacted; every loop is bounded in time.
"use strict";
const { spawn } = require("node:child_process");
const http = require("node:http");
const path = require("node:path");
const { stats, machine, table, preamble, writeResult, ROOT } = require("./common");

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const CONNECTIONS = 32;
const MODEL = path.join(ROOT, "models", "default");
const targets = (process.argv.slice(2).length ? process.argv.slice(2) : [`this=${ROOT}`]).map((arg) => {
  const [label, dir] = arg.includes("=") ? arg.split("=") : [path.basename(arg), arg];
  return { label, dist: path.resolve(dir, "dist") };
});

const SERVER = `
const http = require("node:http");
const { monitorEventLoopDelay } = require("node:perf_hooks");
const et = require(process.argv[1]);
et.TextToTextBertModel.fromPretrained(process.argv[2], { maxLength: 32 }).then((model) => {
  let delay = monitorEventLoopDelay({ resolution: 1 });
  const server = http.createServer((req, res) => {
    if (req.url === "/reset") { delay.disable(); delay = monitorEventLoopDelay({ resolution: 1 }); delay.enable(); res.end("ok"); return; }
    if (req.url === "/stats") { res.end(JSON.stringify({ p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 })); return; }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      model.forwardQuery(Buffer.concat(chunks).toString("utf8")).then((t) => { const n = t.shape[1]; t.dispose(); res.end(String(n)); }, (e) => { res.statusCode = 500; res.end(String(e)); });
    });
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\\n"));
});`;

function request(agent, port, pathName, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: pathName, method: "POST", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
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

async function scenario(port, big) {
  await getJson(port, "/reset");
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS + 1 });
  const latencies = [];
  const end = Date.now() + SECONDS * 1000;
  let failures = 0;
  const worker = async (id) => {
    for (let i = 0; Date.now() < end; i++) {
      const t = process.hrtime.bigint();
      const status = await request(agent, port, "/embed", `red running shoes ${id} ${i}`);
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
  await Promise.all([...Array.from({ length: CONNECTIONS }, (_, id) => worker(id)), ...(big ? [bigQueries()] : [])]);
  agent.destroy();
  const loop = await getJson(port, "/stats");
  const s = stats(latencies);
  return { rps: latencies.length / SECONDS, p50: s.median, p99: latencies.sort((a, b) => a - b)[Math.floor(latencies.length * 0.99)], loopP99: loop.p99, loopMax: loop.max, failures };
}

(async () => {
  const rows = [];
  for (const target of targets) {
    const server = spawn(process.execPath, ["-e", SERVER, target.dist, MODEL], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise((resolve) => server.stdout.once("data", (d) => resolve(JSON.parse(String(d)).port)));
    try {
      // Warm-up (not measured): the first forwards allocate and pick kernels.
      const warm = new http.Agent({ keepAlive: true, maxSockets: 8 });
      for (let i = 0; i < 25; i++) await Promise.all(Array.from({ length: 8 }, (_, j) => request(warm, port, "/embed", `warm-up ${i} ${j}`)));
      warm.destroy();
      const plain = await scenario(port, false);
      const withBig = await scenario(port, true);
      for (const [name, r] of [["short queries only", plain], ["+ one 1 MB query a second", withBig]])
        rows.push([target.label, name, r.rps.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), r.loopP99.toFixed(1), r.loopMax.toFixed(0), String(r.failures)]);
      rows.push([target.label, "throughput kept with 1 MB queries", `${((withBig.rps / plain.rps) * 100).toFixed(0)}%`, "", "", "", "", ""]);
    } finally {
      server.kill();
    }
  }
  const text = [
    preamble("A service under load", `node bench/service.js ${process.argv.slice(2).join(" ")}`.trim(), machine(require(targets[0].dist).runtimeInfo()), [
      `${CONNECTIONS} keep-alive connections to 127.0.0.1 for ${SECONDS} s per scenario; model models/default (TextToTextBertModel, maxLength 32), forwardQuery per request`,
    ]),
    table(["package", "scenario", "req/s", "p50 ms", "p99 ms", "event-loop delay p99 ms", "event-loop delay max ms", "failed"], rows),
  ].join("\n");
  console.log(text);
  writeResult("service.md", text);
})();
