/**
 * CPU forwards (and forwards with grad) go from the JS thread straight to the
 * compute thread and come back through a thread-safe function
 * (native/compute_jobs.h). What a user relies on, each in a fresh process:
 * a forward in flight keeps the process alive until it settles, an idle model
 * keeps nothing alive (the process exits), forwards settle in the order they
 * were made, and a worker thread's environment gets its own results.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
const DIST = JSON.stringify(path.join(ROOT, "dist"));

function runNode(script: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 120_000 });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

test("a forward nobody awaits keeps the process alive until it settles, then the process exits", () => {
  // Nothing but the forward is pending: were it not holding the event loop, the process would
  // exit before "settled"; were the loop held after it, spawnSync would time out.
  const child = runNode(`
    const { Module, Tensor } = require(${DIST});
    const m = Module.create("mlp", { in_features: 64, hidden_features: 256, out_features: 8 }).eval();
    const x = Tensor.from(new Float32Array(512 * 64).fill(0.5), [512, 64]);
    m.forwardTensor([x]).then((y) => console.log("settled " + JSON.stringify(y.shape)));
  `);
  expect({ status: child.status, signal: child.signal, stdout: child.stdout.trim() }).toEqual({ status: 0, signal: null, stdout: "settled [512,8]" });
});

test("forwards settle in the order they were made, each with its own input's output", () => {
  const child = runNode(`
    const { Module, Tensor } = require(${DIST});
    const m = Module.create("mlp", { in_features: 4, hidden_features: 16, out_features: 2 }).eval();
    const sizes = [300, 1, 120, 7, 2048, 3, 64, 1];
    const order = [];
    Promise.all(sizes.map((rows, i) => m.forwardTensor([Tensor.from(new Float32Array(rows * 4).fill(i), [rows, 4])]).then((y) => { order.push(i); return y.shape[0]; })))
      .then((rows) => console.log(JSON.stringify({ order, rows })));
  `);
  expect(child.stderr).toBe("");
  expect(JSON.parse(child.stdout)).toEqual({ order: [0, 1, 2, 3, 4, 5, 6, 7], rows: [300, 1, 120, 7, 2048, 3, 64, 1] });
});

test("forwards in a worker thread and the main thread at once: each environment gets its own results, a failure its own error", () => {
  const child = runNode(`
    const { Worker } = require("node:worker_threads");
    const { Module, Tensor } = require(${DIST});
    const body = \`
      const { parentPort } = require("node:worker_threads");
      const { Module, Tensor } = require(\${JSON.stringify(${DIST})});
      const m = Module.create("mlp", { in_features: 4, hidden_features: 16, out_features: 3 }).eval();
      Promise.all([1, 2, 3].map((rows) => m.forwardTensor([Tensor.from(new Float32Array(rows * 4), [rows, 4])])))
        .then((ys) => m.forwardTensor([Tensor.from(new Float32Array(5), [1, 5])]).catch((e) => parentPort.postMessage(ys.map((y) => y.shape[0]).concat(e.name))));\`;
    const worker = new Worker(body, { eval: true });
    const m = Module.create("mlp", { in_features: 4, hidden_features: 16, out_features: 3 }).eval();
    const here = Promise.all([4, 5].map((rows) => m.forwardTensor([Tensor.from(new Float32Array(rows * 4), [rows, 4])]).then((y) => y.shape[0])));
    Promise.all([here, new Promise((resolve) => worker.once("message", resolve))]).then(([main, inWorker]) => {
      console.log(JSON.stringify({ main, inWorker }));
      return worker.terminate();
    });
  `);
  expect(child.stderr).toBe("");
  expect(JSON.parse(child.stdout)).toEqual({ main: [4, 5], inWorker: [1, 2, 3, "ShapeError"] });
});
