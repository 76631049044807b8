// "ours" engine of bench/text.js in its own process, so it can run under a
// different environment (OPENBLAS_CORETYPE is read once, when libopenblas loads)
// and so every engine is timed the same way: inside its own process, around one
// call, while the other engines idle. Same line-delimited JSON protocol as
// bench/python/bench_text.py:
//   {"cmd": "load", "dir": ..., "family": "bert" | "xlm-roberta" | "clip", "threads": 2, "maxLength": 128,
//    "batchSize": 32, "texts": [...], "padded": [...], "query": "..."}
//     BERT / XLM-R: TextToTextBertModel, batch = forwardItems(texts); CLIP: TextToImageClipModel (texts
//     padded to the longest), batch = encodeQueries(texts, {grad: false}), its text tower's batch call.
//     "dtype": the models' dtype option. With "ids": true, each call is the query tower's
//     module.forwardTensor on the token ids of the request's file instead (CLIP: input_ids alone): what
//     onnxruntime is timed on, without our tokenizer and micro-batching.
//   {"cmd": "time", "kind": "batch" | "padded" | "query", "file": "batch.safetensors", "iters": n, "warmup": w}
//     "padded": the texts of different lengths (padded to the longest), forwardItems / encodeQueries or, with ids, the file's.
//   {"cmd": "quit"}
"use strict";
const path = require("node:path");
const { loadPackage, serveEngine, timeCalls } = require("./common");

// BENCH_PACKAGE: another package folder to time instead (bench/text.js BENCH_BASELINE).
const et = process.env.BENCH_PACKAGE ? require(path.join(process.env.BENCH_PACKAGE, "dist", "index.js")) : loadPackage();
const { readSafetensorsTensors } = require(path.join(process.env.BENCH_PACKAGE ?? path.join(__dirname, ".."), "dist", "hub", "safetensors.js"));
let model;
let clip = false;
let ids = false;
const idsOf = new Map();  // file -> [input_ids, attention_mask]
let texts;
let padded;
let query;

serveEngine({
  async load(msg) {
    et.setNumThreads(msg.threads);
    clip = msg.family === "clip";
    ids = msg.ids === true;
    model = clip
      ? await et.TextToImageClipModel.fromPretrained(msg.dir, { batchSize: msg.batchSize, ...(msg.dtype ? { dtype: msg.dtype } : {}) })
      : await et.TextToTextBertModel.fromPretrained(msg.dir, { maxLength: msg.maxLength, batchSize: msg.batchSize, padding: "longest", ...(msg.dtype ? { dtype: msg.dtype } : {}) });
    ({ texts, padded, query } = msg);
    const out = await model.forwardQuery(query);
    const body = { threads: et.getNumThreads(), gemm: et.runtimeInfo().inferenceGemm, query: Array.from(out.toFloat32Array()) };
    out.dispose();
    return body;
  },
  async time(msg) {
    if (ids && !idsOf.has(msg.file)) {
      const { tensors } = await readSafetensorsTensors(msg.file);
      // CLIP's text tower takes input_ids alone (positional), the BERT family ids and mask.
      const inputs = clip ? ["input_ids"] : ["input_ids", "attention_mask"];
      idsOf.set(msg.file, inputs.map((name) => tensors.get(name)));
      for (const [name, t] of tensors) if (!inputs.includes(name)) t.dispose();
    }
    const list = msg.kind === "padded" ? padded : texts;
    const batch = clip ? () => model.encodeQueries(list, { grad: false }) : () => model.forwardItems(list);
    const call = ids ? () => model.getQueryModel().forwardTensor(idsOf.get(msg.file)) : msg.kind === "query" ? () => model.forwardQuery(query) : batch;
    return timeCalls(call, msg.iters, msg.warmup ?? 0, (out) => out.dispose());
  },
  quit() {
    for (const tensors of idsOf.values()) for (const t of tensors) t.dispose();
    model?.dispose();
  },
});
