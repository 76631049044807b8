// "ours" engine of bench/text.js in its own process, so it can run under a
// different environment (OPENBLAS_CORETYPE is read once, when libopenblas loads)
// and so every engine is timed the same way: inside its own process, around one
// call, while the other engines idle. Same line-delimited JSON protocol as
// bench/python/bench_text.py:
//   {"cmd": "load", "dir": ..., "family": "bert" | "xlm-roberta" | "clip", "threads": 2, "maxLength": 128,
//    "batchSize": 32, "texts": [...], "query": "..."}
//     BERT / XLM-R: TextToTextBertModel, batch = forwardItems(texts); CLIP: TextToImageClipModel (texts
//     padded to its 77 positions), batch = encodeQueries(texts, {grad: false}), its text tower's batch call
//   {"cmd": "time", "kind": "batch" | "query", "iters": n, "warmup": w}
//   {"cmd": "quit"}
"use strict";
const path = require("node:path");
const { loadPackage, serveEngine, timeCalls } = require("./common");

// BENCH_PACKAGE: another package folder to time instead (bench/text.js BENCH_BASELINE).
const et = process.env.BENCH_PACKAGE ? require(path.join(process.env.BENCH_PACKAGE, "dist", "index.js")) : loadPackage();
let model;
let clip = false;
let texts;
let query;

serveEngine({
  async load(msg) {
    et.setNumThreads(msg.threads);
    clip = msg.family === "clip";
    model = clip
      ? await et.TextToImageClipModel.fromPretrained(msg.dir, { batchSize: msg.batchSize })
      : await et.TextToTextBertModel.fromPretrained(msg.dir, { maxLength: msg.maxLength, batchSize: msg.batchSize, padding: "longest", ...(msg.dtype ? { dtype: msg.dtype } : {}) });
    ({ texts, query } = msg);
    const out = await model.forwardQuery(query);
    const body = { threads: et.getNumThreads(), gemm: et.runtimeInfo().inferenceGemm, query: Array.from(out.toFloat32Array()) };
    out.dispose();
    return body;
  },
  time(msg) {
    const batch = clip ? () => model.encodeQueries(texts, { grad: false }) : () => model.forwardItems(texts);
    const call = msg.kind === "batch" ? batch : () => model.forwardQuery(query);
    return timeCalls(call, msg.iters, msg.warmup ?? 0, (out) => out.dispose());
  },
  quit() {
    model?.dispose();
  },
});
