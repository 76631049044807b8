/**
 * A worker thread terminated while its forwards are in flight: Node tears the
 * worker's environment down with native work queued, and the Promises can no
 * longer settle. The process must survive every time (it used to abort with
 * a Napi::Error thrown from AsyncWorker::OnAsyncWorkComplete, 12 of 36 runs).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
const RUNS = 50;

test(`a worker terminated mid-forward ${RUNS} times: the process survives every time and still computes`, () => {
  const script = `
    const { Worker } = require("node:worker_threads");
    const dist = ${JSON.stringify(path.join(ROOT, "dist"))};
    const fixture = ${JSON.stringify(path.join(ROOT, "test", "fixtures", "bert-tiny"))};
    const body = \`
      const { parentPort } = require("node:worker_threads");
      const et = require(\${JSON.stringify(dist)});
      et.TextToTextBertModel.fromPretrained(\${JSON.stringify(fixture)}, { maxLength: 32 }).then((model) => {
        const texts = Array.from({ length: 16 }, (_, i) => "query number " + i + " about red shoes");
        for (let i = 0; i < 64; i++) model.forwardItems(texts).catch(() => {});
        parentPort.postMessage("busy");
      });\`;
    (async () => {
      let terminated = 0;
      for (let run = 0; run < ${RUNS}; run++) {
        const worker = new Worker(body, { eval: true });
        await new Promise((resolve, reject) => { worker.once("message", resolve); worker.once("error", reject); });
        await new Promise((resolve) => setTimeout(resolve, run % 7));
        await worker.terminate();
        terminated++;
      }
      const et = require(dist);
      const model = await et.TextToTextBertModel.fromPretrained(fixture, { maxLength: 32 });
      const out = await model.forwardQuery("still alive");
      console.log(JSON.stringify({ terminated, shape: out.shape }));
    })();`;
  const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 600_000 });
  expect({ status: child.status, signal: child.signal, stderr: child.stderr.split("\n").filter((l) => /abort|terminate called|Napi::Error|core dumped/i.test(l)) }).toEqual({ status: 0, signal: null, stderr: [] });
  expect(JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}")).toEqual({ terminated: RUNS, shape: [1, 64] });
}, 600_000);
