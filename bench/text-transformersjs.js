// "transformers.js" engine of bench/text.js in its own process: @huggingface/transformers
// (bench/node_modules) running the same torch.onnx.export of the same weights through its
// AutoModel (onnxruntime-node underneath, fp32, the same thread count), fed the same token ids
// as every other engine (its own tokenizer is not timed: the ids are given). Protocol as
// bench/text-ours.js:
//   {"cmd": "load", "dir": <folder with config.json and onnx/model.onnx>, "threads": 2,
//    "className": "AutoModel" | "CLIPTextModelWithProjection" (reads onnx/text_model.onnx),
//    "batch": {"ids": [...], "mask": [...] | null (no attention_mask input), "dims": [B, L]}, "query": {...}, "padded": {...}, "parity": {...}}
//   {"cmd": "time", "kind": "batch" | "padded" | "query", "iters": n, "warmup": w}
//   {"cmd": "quit"}
"use strict";
const path = require("node:path");

const { serveEngine, timeCalls } = require("./common");

let tjs;
let model;
const feeds = {};
const tensors = (f) => ({
  input_ids: new tjs.Tensor("int64", BigInt64Array.from(f.ids, BigInt), f.dims),
  ...(f.mask ? { attention_mask: new tjs.Tensor("int64", BigInt64Array.from(f.mask, BigInt), f.dims) } : {}),
});
const output = async (f) => {
  const out = await model(f);
  return out.pooler_output ?? out.text_embeds ?? Object.values(out)[0];
};

serveEngine({
  async load(msg) {
    tjs = await import("@huggingface/transformers");
    tjs.env.allowRemoteModels = false;  // never the Hub: the folder is local
    tjs.env.localModelPath = path.dirname(msg.dir);
    model = await tjs[msg.className ?? "AutoModel"].from_pretrained(path.basename(msg.dir), {
      local_files_only: true,
      dtype: "fp32",
      device: "cpu",
      session_options: { intraOpNumThreads: msg.threads, interOpNumThreads: 1, graphOptimizationLevel: "all", executionMode: "sequential" },
    });
    feeds.batch = tensors(msg.batch);
    feeds.query = tensors(msg.query);
    feeds.padded = tensors(msg.padded);
    const parity = msg.parity ? Array.from((await output(tensors(msg.parity))).data) : null;
    return { version: tjs.env.version, query: Array.from((await output(feeds.query)).data), parity };
  },
  time(msg) {
    return timeCalls(() => output(feeds[msg.kind]), msg.iters, msg.warmup ?? 0);
  },
  async quit() {
    await model?.dispose?.();
  },
});
