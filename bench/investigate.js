// Follow-ups to bench/text: experiments behind the README's analysis, on the
// checkpoints that `npm run bench:text` leaves in bench/out/<shape>/.
//   node bench/investigate.js malloc [minilm-l6|bert-base] [rounds]
//     ours and PyTorch (batch 32×128) with glibc malloc as is, and tuned so freed
//     intermediates are reused instead of unmapped (MALLOC_* variables); minor page
//     faults per call show the allocator's work.
//   node bench/investigate.js grad-mode [shape] [rounds]
//     PyTorch under no_grad vs inference_mode, and ours' forward under NoGradGuard
//     (what workers.cc uses) vs c10::InferenceMode, timed in C++ (native benchForward).
// All engines use OPENBLAS_CORETYPE=SkylakeX (see README) and 2 threads; the
// variants alternate in rounds within one run. Results: bench/results/investigate-<name>.md.
"use strict";
const path = require("node:path");
const { loadPackage, stats, rotate, machine, table, preamble, writeResult, sleep, fmt, ROOT } = require("./common");
const { JsonLineServer, engineEnv, makeTexts, THREADS, BATCH, SEQ } = require("./text");

const [experiment = "malloc", shape = "minilm-l6", roundsArg] = process.argv.slice(2);
// grad-mode runs ours in this process: OpenBLAS reads OPENBLAS_CORETYPE when the addon loads it.
if (experiment === "grad-mode") process.env.OPENBLAS_CORETYPE ??= "SkylakeX";
const DIR = path.join(ROOT, "bench", "out", shape);
const CORETYPE = "SkylakeX";
// Freed blocks stay in the heap for reuse (no trimming, a 256 MiB pad), blocks up to
// 32 MiB (glibc's maximum) come from the heap, and one arena serves every thread:
// libtorch's forward runs on libuv worker threads, whose arenas are 64 MiB heaps
// that cannot keep [32, 128, 3072] float intermediates (48 MiB).
const MALLOC = { MALLOC_MMAP_THRESHOLD_: "33554432", MALLOC_TRIM_THRESHOLD_: "8589934592", MALLOC_TOP_PAD_: "268435456", MALLOC_ARENA_MAX: "1" };

function server(kind, env) {
  const full = { ...engineEnv(CORETYPE), ...env };
  return kind === "ours"
    ? new JsonLineServer("ours", process.execPath, [path.join(__dirname, "text-ours.js")], full)
    : new JsonLineServer("PyTorch", process.env.BENCH_PYTHON ?? "/usr/bin/python3", [path.join(__dirname, "python", "bench_text.py"), String(THREADS)], full);
}

async function load(kind, s) {
  if (kind === "ours") {
    const texts = makeTexts(DIR, BATCH, SEQ + 20, 1);
    const query = makeTexts(DIR, 1, 14, 2)[0];
    await s.request({ cmd: "load", dir: DIR, threads: THREADS, maxLength: SEQ, batchSize: BATCH, texts, query });
  } else {
    await s.request({ cmd: "load", config: path.join(DIR, "config.json"), weights: path.join(DIR, "model.safetensors") });
  }
}

/** Variants: {name, time(kind) -> {samples, faults}} alternating in rounds. */
async function compare(variants, kind, rounds, iters) {
  const got = Object.fromEntries(variants.map((v) => [v.name, { samples: [], faults: [] }]));
  for (const v of variants) await v.time(kind, 0, 1);
  for (let r = 0; r < rounds; r++) {
    for (const v of rotate(variants, r)) {
      const { samples, faults } = await v.time(kind, iters, 0);
      got[v.name].samples.push(...samples);
      got[v.name].faults.push(faults);
      await sleep(200);
    }
    console.error(`  round ${r + 1}/${rounds}`);
  }
  return table(
    ["variant", `${kind} median ms`, "p90 ms", "min ms", "minor page faults per call (per round)"],
    Object.entries(got).map(([name, g]) => {
      const st = stats(g.samples);
      return [name, fmt.ms(st.median), fmt.ms(st.p90), fmt.ms(st.min), g.faults.map((f) => Math.round(f)).join(", ")];
    }),
  );
}

function serverVariant(name, kind, env, extra = {}) {
  const s = server(kind, env);
  return {
    name,
    s,
    kind,
    time: async (what, iters, warmup) => {
      const reply = await s.request({ cmd: "time", kind: what, file: path.join(DIR, `${what}.safetensors`), iters, warmup, ...extra });
      return { samples: reply.samples, faults: reply.faults_per_call };
    },
  };
}

async function main() {
  const et = loadPackage();
  const m = machine(et.runtimeInfo());
  const rounds = Number(roundsArg ?? 3);
  let body;
  if (experiment === "malloc") {
    const variants = [
      serverVariant("ours", "ours", {}),
      serverVariant(`ours + ${Object.entries(MALLOC).map(([k, v]) => `${k}=${v}`).join(" ")}`, "ours", MALLOC),
      serverVariant("PyTorch eager", "py", {}),
      serverVariant("PyTorch eager + the same MALLOC_*", "py", MALLOC),
    ];
    for (const v of variants) await load(v.kind, v.s);
    body = await compare(variants, "batch", rounds, 1);
    for (const v of variants) await v.s.close();
  } else if (experiment === "grad-mode") {
    const { native } = require(path.join(ROOT, "dist", "native"));
    et.setNumThreads(THREADS);
    const config = require(path.join(DIR, "config.json"));
    const scalars = Object.fromEntries(Object.entries(config).filter(([, v]) => typeof v !== "object"));
    const module = et.Module.create("bert", { ...scalars, pooling: "pooler" });
    await module.loadStateDict(path.join(DIR, "model.safetensors"));
    const inputs = {};
    for (const what of ["batch", "query"]) {
      const file = await et.readSafetensors(path.join(DIR, `${what}.safetensors`));
      inputs[what] = ["input_ids", "attention_mask"].map((k) => et.Tensor.from(file.tensors.get(k).bytes, file.tensors.get(k).shape, { dtype: "int64" }));
    }
    const inProcess = (name, mode) => ({
      name,
      time: async (what, iters, warmup) => {
        const args = inputs[what].map((t) => t.native);
        if (warmup) native().benchForward(module.native, args, warmup, mode);
        const samples = [];
        const before = process.resourceUsage().minorPageFault;
        for (let i = 0; i < iters; i++) samples.push(native().benchForward(module.native, args, 1, mode) / 1e9);
        return { samples, faults: (process.resourceUsage().minorPageFault - before) / Math.max(1, iters) };
      },
    });
    const variants = [
      inProcess("ours, C++ forward under NoGradGuard (as workers.cc)", "no_grad"),
      inProcess("ours, C++ forward under c10::InferenceMode", "inference_mode"),
      serverVariant("PyTorch eager, torch.no_grad()", "py", {}, { mode: "no_grad" }),
      serverVariant("PyTorch eager, torch.inference_mode()", "py", {}, { mode: "inference_mode" }),
    ];
    for (const v of variants.filter((x) => x.s)) await load(v.kind, v.s);
    body = [await compare(variants, "batch", rounds, 1), "", await compare(variants, "query", rounds, 30)].join("\n");
    for (const v of variants) await v.s?.close();
  } else {
    throw new RangeError(`unknown experiment "${experiment}"; expected malloc or grad-mode`);
  }
  const text = [preamble(`bench/investigate ${experiment} (${shape})`, `node bench/investigate.js ${experiment} ${shape} ${rounds}`, m, [`OPENBLAS_CORETYPE=${CORETYPE} for every variant; ${THREADS} threads; ${rounds} rounds, order rotated per round`]), body, ""].join("\n");
  console.log(text);
  console.log(`written: ${writeResult(`investigate-${experiment}-${shape}.md`, text)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
