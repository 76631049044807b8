// bench/ddp: data-parallel training on this machine (Trainer strategy "ddp", c10d Gloo on loopback).
//  1. Training throughput of the shipped default model (models/default: BERT, 4 layers, hidden 128,
//     ~0.9M parameters, mean pooling), cosine margin loss, batchSize 16 per process, max length 32:
//     1 process vs 2 processes launched by `embeddings-torch launch` (OMP_NUM_THREADS = cores / N).
//  2. Allreduce bandwidth between 2 processes: Float64Array of 16 MB through ProcessGroup.allreduce
//     (includes the JS -> tensor copy in and the copy out).
// Run after npm run build (dist/ and an addon with Gloo): node bench/ddp.js
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");
const { ROOT, writeResult } = require("./common");

const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const BATCH = 16;

async function worker() {
  const et = require(`${ROOT}/dist`);
  const { defaultProcessGroup } = require(`${ROOT}/dist/training/distributed/process-group`);
  const rank = Number(process.env.RANK);
  const world = Number(process.env.WORLD_SIZE);
  const model = await et.TextToTextE5Model.fromPretrained(path.join(ROOT, "models/default"), { maxLength: 32, queryPrefix: "", itemPrefix: "" });
  const words = ["red", "blue", "green", "shoe", "lamp", "chair", "table", "coat", "bag", "cup", "small", "large"];
  const text = (i, k) => Array.from({ length: 6 }, (_, j) => words[(i * 7 + j * 3 + k) % words.length]).join(" ");
  const pairs = Array.from({ length: BATCH * world * (STEPS + 3) }, (_, i) => ({ sessionId: `s${i}`, query: text(i, 0), positive: text(i, 1), negative: text(i, 5), positiveId: `p${i}`, negativeId: `n${i}` }));
  const options = { strategy: "ddp", progress: false, batchSize: BATCH, loss: { kind: "cosine_margin" }, optimizer: { kind: "adamw", lr: 1e-4 } };
  await new et.Trainer({ ...options, maxSteps: 3 }).fit(model, { train: pairs });  // warm-up (and the rendezvous)
  const group = await defaultProcessGroup();
  await group.barrier();
  const started = process.hrtime.bigint();
  await new et.Trainer({ ...options, maxSteps: STEPS }).fit(model, { train: pairs });
  await group.barrier();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let allreduce = null;
  if (world > 1) {
    const values = new Float64Array(2 * 1024 * 1024);  // 16 MB
    for (let i = 0; i < 3; i++) await group.allreduce(values);
    const t0 = process.hrtime.bigint();
    const n = 10;
    for (let i = 0; i < n; i++) await group.allreduce(values);
    const each = Number(process.hrtime.bigint() - t0) / 1e9 / n;
    allreduce = { bytes: values.byteLength, seconds: each, algoGBs: values.byteLength / each / 1e9, busGBs: ((2 * (world - 1)) / world) * values.byteLength / each / 1e9 };
  }
  if (rank === 0) console.log(`RESULT ${JSON.stringify({ world, steps: STEPS, seconds, stepsPerSecond: STEPS / seconds, samplesPerSecond: (STEPS * BATCH * world) / seconds, allreduce })}`);
}

function run(nproc) {
  const child = spawnSync(process.execPath, [path.join(ROOT, "dist/cli.js"), "launch", "--nproc", String(nproc), "--master-port", String(29500 + nproc * 7), __filename, "--worker"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, GLOO_SOCKET_IFNAME: "lo" } });
  const line = child.stdout.split("\n").find((l) => l.includes("RESULT "));
  if (child.status !== 0 || !line) throw new Error(`launch --nproc ${nproc} failed (${child.status}):\n${child.stdout}\n${child.stderr}`);
  return JSON.parse(line.slice(line.indexOf("RESULT ") + 7));
}

function main() {
  const one = run(1);
  const two = run(2);
  const ar = two.allreduce;
  const lines = [
    `# bench/ddp (${new Date().toISOString()}, ${require("node:os").cpus().length} cores, shared machine)`,
    `| processes | steps/s | samples/s (global) | s for ${STEPS} steps |`,
    `|---|---|---|---|`,
    ...[one, two].map((r) => `| ${r.world} | ${r.stepsPerSecond.toFixed(2)} | ${r.samplesPerSecond.toFixed(1)} | ${r.seconds.toFixed(2)} |`),
    ``,
    `2-process scaling of samples/s: ${(two.samplesPerSecond / one.samplesPerSecond).toFixed(2)}x`,
    `allreduce of ${(ar.bytes / 1e6).toFixed(1)} MB between 2 processes on loopback: ${(ar.seconds * 1e3).toFixed(1)} ms (${ar.algoGBs.toFixed(2)} GB/s algorithmic, ${ar.busGBs.toFixed(2)} GB/s bus)`,
  ];
  console.log(lines.join("\n"));
  console.log(`wrote ${writeResult("ddp.md", lines.join("\n"))}`);
}

if (process.argv.includes("--worker")) worker().catch((e) => { console.error(e); process.exitCode = 1; });
else main();
