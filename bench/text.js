// bench/text: text embeddings with the same weights and inputs in three engines,
//   ours         TextToTextBertModel.forwardItems / forwardQuery (tokenizer + native BERT),
//                in a node child process (bench/text-ours.js)
//   PyTorch      eager, bench/python/bert.py under torch.inference_mode (same libtorch),
//                in a python3 child process (bench/python/bench_text.py)
//   onnxruntime  onnxruntime-node on torch.onnx.export of that PyTorch model, in this process
//                (default spin-waiting threads, and a second session without)
// for a BERT-base and a MiniLM-L6 shape with random weights (Module.create +
// saveStateDict), and an XLM-R base and a CLIP ViT-B/32 text-tower shape
// (BENCH_SHAPES=xlmr-base,clip-text; XLM-R runs through bench/python/bert.py with
// RobertaEmbeddings' position ids, CLIP through bench/python/clip_text.py).
// Throughput: forwardItems of 32 texts that are 128 tokens each
// (full attention mask), and of a padded batch: 32 texts of 8 to 128 tokens padded to
// the longest (attention masked); latency: one 16-token query. CLIP's text tower: batch 32 x 77
// (its positions) through encodeQueries, the 16-token query through forwardQuery (every
// engine gets the query's 16 positions: TextToImageClipModel pads to the longest text,
// not to 77, since its causal attention never sees what follows a text). Ours and PyTorch also run
// with OPENBLAS_CORETYPE forced (see CORETYPE). All engines use THREADS threads and
// alternate in rounds inside one run; each is timed in its own process around one
// call while the others idle. Run: npm run bench:text
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const { spawn } = require("node:child_process");
const ort = require("onnxruntime-node");
ort.env.logLevel = "error"; // not the warning that a saved optimised graph is hardware-specific
const { loadPackage, baselinePackages, stats, rotate, machine, table, preamble, writeResult, sleep, timeAsync, fmt, ROOT } = require("./common");
const { countOps } = require("./onnx-ops");

const THREADS = 2;
const BATCH = 32;
const SEQ = 128;
const QUERY_TOKENS = 16;
const TOLERANCE = 1e-4;
const OUT = path.join(ROOT, "bench", "out"); // git-ignored: checkpoints, inputs, .onnx files
const TOKENIZER = path.join(ROOT, "test", "fixtures", "bert-tiny");
const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";
const SCALE = Number(process.env.BENCH_SCALE ?? 1); // multiplies every iteration count
// Debian 12's OpenBLAS 0.3.21 does not know recent Xeons (family 6 model 207 here) and falls back
// to its SSE3 "Prescott" kernels; ours and PyTorch also run with OPENBLAS_CORETYPE set, as
// separate engines ("none" skips them). The default engines stay first: they are what users get.
// Default: the core our loader picks for this CPU (lib/environment.ts), so an AVX2-only CPU never gets
// AVX-512 kernels. The default-detection engines only run with BENCH_DEFAULT_OPENBLAS=1.
const CORETYPE = process.env.BENCH_CORETYPE ?? require("../dist/environment").openblasCoreFor(require("../dist/cpu-features").readCpuinfo()) ?? "none";
const DEFAULT_OPENBLAS = process.env.BENCH_DEFAULT_OPENBLAS === "1" || CORETYPE === "none";
// Extra "ours" engines from other package folders (label=dir,...), e.g. BENCH_BASELINE=main=/tmp/main
// to time the previous version in the same run; each folder needs dist/ and its addon.
const BASELINES = baselinePackages();
// transformers.js (bench/node_modules/@huggingface/transformers, npm run bench:setup): its version, or null when absent.
const TRANSFORMERS_JS = (() => {
  try {
    // Its exports map hides package.json: read it next to the resolved entry.
    const entry = require.resolve("@huggingface/transformers");
    return JSON.parse(fs.readFileSync(path.join(entry.slice(0, entry.lastIndexOf("node_modules")), "node_modules", "@huggingface", "transformers", "package.json"), "utf8")).version;
  } catch {
    return null;
  }
})();
// ours with dtype "bfloat16" too, where the CPU multiplies bf16 in hardware (elsewhere it would load float32).
const BF16 = require("../dist/cpu-features").cpuHasBfloat16Matmul(require("../dist/cpu-features").readCpuinfo());

const COMMON = { vocab_size: 30522, max_position_embeddings: 512, type_vocab_size: 2, hidden_act: "gelu", layer_norm_eps: 1e-12, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, pad_token_id: 0 };
// XLM-R base (xlm-roberta-base's config.json): BERT-base plus a 250002-token vocabulary, one token
// type and position ids counted from pad_token_id + 1 (max_position_embeddings 514 = 512 + 2).
const XLMR = { vocab_size: 250002, max_position_embeddings: 514, type_vocab_size: 1, hidden_act: "gelu", layer_norm_eps: 1e-5, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2 };
// CLIP ViT-B/32's text_config (openai/clip-vit-base-patch32); bos/eos/pad are the ids of the
// tokenizer used here (test/fixtures/clip-tiny's BPE tokenizer: <|startoftext|> 0, <|endoftext|> 1).
const CLIP_TEXT = { vocab_size: 49408, hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 8, max_position_embeddings: 77, hidden_act: "quick_gelu", layer_norm_eps: 1e-5, attention_dropout: 0, bos_token_id: 0, eos_token_id: 1, pad_token_id: 1, model_type: "clip_text_model" };
const CLIP_FIXTURE = path.join(ROOT, "test", "fixtures", "clip-tiny");
const SHAPES = [
  {
    key: "minilm-l6",
    title: "MiniLM-L6 shape (hidden 384, 6 layers, 12 heads, ffn 1536, vocab 30522)",
    config: { ...COMMON, hidden_size: 384, num_hidden_layers: 6, num_attention_heads: 12, intermediate_size: 1536 },
    // slowRounds: rounds that the default-OpenBLAS engines take part in (they are ~4x slower here).
    batch: { rounds: 3, iters: 1, warmup: 1, slowRounds: 3 },
    query: { rounds: 4, iters: 40, warmup: 5, slowRounds: 4 },
  },
  {
    key: "bert-base",
    title: "BERT-base shape (hidden 768, 12 layers, 12 heads, ffn 3072, vocab 30522)",
    config: { ...COMMON, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072 },
    batch: { rounds: 2, iters: 1, warmup: 0, slowRounds: 1 }, // warmed up by the queries; ~80 s a call with Prescott kernels
    query: { rounds: 3, iters: 8, warmup: 3, slowRounds: 3 },
  },
  {
    key: "xlmr-base",
    title: "XLM-R base shape (hidden 768, 12 layers, 12 heads, ffn 3072, vocab 250002, positions from 2)",
    family: "xlm-roberta",
    config: { ...XLMR, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072 },
    batch: { rounds: 2, iters: 1, warmup: 0, slowRounds: 1 },
    query: { rounds: 3, iters: 8, warmup: 3, slowRounds: 3 },
  },
  {
    key: "clip-text",
    title: "CLIP ViT-B/32 text tower shape (hidden 512, 12 layers, 8 heads, ffn 2048, vocab 49408, 77 positions, quick_gelu, projection 512)",
    family: "clip",
    seq: 77, // every text is padded to the 77 positions
    config: CLIP_TEXT,
    projectionDim: 512,
    batch: { rounds: 3, iters: 1, warmup: 1, slowRounds: 2 },
    query: { rounds: 3, iters: 10, warmup: 3, slowRounds: 3 },
  },
].filter((s) => !process.env.BENCH_SHAPES || process.env.BENCH_SHAPES.split(",").includes(s.key));

/** Deterministic PRNG (mulberry32, the package's), so every run feeds the same texts and ids. */
const prng = require("../dist/training/random").mulberry32;

/** An engine in its own process: one JSON line per request and per reply (bench/text-ours.js, bench/python/bench_text.py). */
class JsonLineServer {
  constructor(label, command, args, env) {
    this.label = label;
    this.proc = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"], env });
    this.pending = [];
    readline.createInterface({ input: this.proc.stdout }).on("line", (line) => this.pending.shift()?.resolve(JSON.parse(line)));
    this.proc.on("exit", (code) => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`${label} exited with ${code}`));
    });
  }

  request(message) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.proc.stdin.write(`${JSON.stringify(message)}\n`);
    }).then((reply) => {
      if (!reply.ok) throw new Error(`${this.label} ${message.cmd}: ${reply.error}`);
      return reply;
    });
  }

  async close() {
    await this.request({ cmd: "quit" });
    this.proc.stdin.end();
  }
}

/**
 * The environment of an engine process: OMP_WAIT_POLICY=PASSIVE, OPENBLAS_CORETYPE only when asked for
 * (otherwise OpenBLAS' own detection: `auto` stops our loader from choosing a core, lib/environment.ts).
 */
function engineEnv(coretype) {
  const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? "PASSIVE", EMBEDDINGS_TORCH_OPENBLAS_CORETYPE: "auto" };
  delete env.OPENBLAS_CORETYPE;
  if (coretype) env.OPENBLAS_CORETYPE = coretype;
  return env;
}

function cosine(a, b) {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/**
 * A Hugging Face checkpoint folder: config.json, model.safetensors (random weights), the bert-tiny tokenizer
 * (BERT, XLM-R: its 1500 ids are valid inputs for either vocabulary). CLIP: a CLIPModel folder whose text
 * tower has the shape's config and whose vision tower, tokenizer and preprocessor are test/fixtures/clip-tiny's
 * (TextToImageClipModel loads both towers; only the text tower is timed). Returns the module to time.
 */
async function makeCheckpoint(et, shape, dir) {
  fs.mkdirSync(dir, { recursive: true });
  et.manualSeed(0);
  if (shape.family === "clip") {
    const vision = JSON.parse(fs.readFileSync(path.join(CLIP_FIXTURE, "config.json"), "utf8")).vision_config;
    const text = et.Module.create("clip-text", { ...shape.config, projection_dim: shape.projectionDim });
    const visionModule = et.Module.create("clip-vision", { ...vision, projection_dim: shape.projectionDim });
    const state = new Map([...text.stateDict(), ...visionModule.stateDict()]);
    await et.writeSafetensors(path.join(dir, "model.safetensors"), state);
    for (const t of state.values()) t.dispose();
    visionModule.dispose();
    const config = { architectures: ["CLIPModel"], model_type: "clip", projection_dim: shape.projectionDim, text_config: shape.config, vision_config: vision };
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
    for (const file of ["tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"]) fs.copyFileSync(path.join(CLIP_FIXTURE, file), path.join(dir, file));
    return text;
  }
  const family = shape.family ?? "bert";
  // With the pooler (XLM-R's default is none): pooler_output, as xlm-roberta-base's checkpoint has it.
  const module = et.Module.create(family, { ...shape.config, pooling: "pooler", add_pooling_layer: true });
  await module.saveStateDict(path.join(dir, "model.safetensors"));
  const architecture = family === "xlm-roberta" ? "XLMRobertaModel" : "BertModel";
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ architectures: [architecture], model_type: family, ...shape.config }, null, 2));
  // bert-tiny's WordPiece vocabulary (1500 ids) is a valid input for a 30522-row embedding.
  fs.copyFileSync(path.join(TOKENIZER, "tokenizer.json"), path.join(dir, "tokenizer.json"));
  const tokConfig = JSON.parse(fs.readFileSync(path.join(TOKENIZER, "tokenizer_config.json"), "utf8"));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ ...tokConfig, model_max_length: 512 }, null, 2));
  return module;
}

/**
 * Texts of whole vocabulary words (one token each): `words` words -> words + 2 tokens with [CLS]/[SEP]
 * (CLIP: <|startoftext|>/<|endoftext|>; its BPE vocabulary marks a word's end with </w>).
 */
/**
 * Words per text of the padded batch: BATCH lengths spread evenly from 6 to seq - 2 (each word
 * one token, plus the two special ones: the longest fills seq), in a scrambled order.
 */
function paddedLengths(seq) {
  return Array.from({ length: BATCH }, (_, i) => 6 + Math.round((((i * 13) % BATCH) * (seq - 8)) / (BATCH - 1)));
}

function makeTexts(dir, count, words, seed) {
  const model = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")).model;
  const vocab = model.type === "BPE"
    ? Object.keys(model.vocab).filter((w) => /^[a-z]{3,}<\/w>$/.test(w)).map((w) => w.slice(0, -4))
    : Object.keys(model.vocab).filter((w) => /^[a-z]{3,}$/.test(w));
  const rand = prng(seed);
  return Array.from({ length: count }, () => Array.from({ length: words }, () => vocab[Math.floor(rand() * vocab.length)]).join(" "));
}

async function writeInputs(et, file, ids, mask, shape, extra = {}) {
  const tensors = { input_ids: et.Tensor.from(ids, shape), attention_mask: et.Tensor.from(mask, shape), ...extra };
  await et.writeSafetensors(file, tensors);
  for (const t of Object.values(tensors)) t.dispose();
}

async function benchShape(et, shape, log) {
  const dir = path.join(OUT, shape.key);
  const module = await makeCheckpoint(et, shape, dir);
  const tokenizer = await et.TextTokenizer.fromPretrained(dir);
  const clip = shape.family === "clip";
  const seq = shape.seq ?? SEQ;
  // Every family pads to the longest text, as TextToTextBertModel and TextToImageClipModel do.
  const encodeOptions = { maxLength: seq, padding: "longest" };
  const queryLength = QUERY_TOKENS;

  // Inputs shared by all three engines.
  const texts = makeTexts(dir, BATCH, seq + 20, 1); // longer than seq: truncation gives full rows
  const batchEnc = tokenizer.encodeBatch(texts, encodeOptions);
  if (batchEnc.length !== seq || batchEnc.attentionMask.some((v) => v !== 1n)) throw new Error(`batch encodes to length ${batchEnc.length} with padding; expected full ${seq}`);
  const query = makeTexts(dir, 1, QUERY_TOKENS - 2, 2)[0];
  const queryEnc = tokenizer.encodeBatch([query], encodeOptions);
  const queryTokens = queryEnc.attentionMask.filter((v) => v === 1n).length;
  if (queryEnc.length !== queryLength || queryTokens !== QUERY_TOKENS) throw new Error(`query encodes to ${queryTokens} tokens in ${queryEnc.length} positions; expected ${QUERY_TOKENS} in ${queryLength}`);
  const batchFile = path.join(dir, "batch.safetensors");
  const queryFile = path.join(dir, "query.safetensors");
  await writeInputs(et, batchFile, batchEnc.inputIds, batchEnc.attentionMask, [BATCH, seq]);
  // The padded batch: 32 texts of different lengths, the longest filling seq, padded to it (what
  // forwardItems meets in practice: masked keys in attention, padding rows in every product).
  const paddedWords = paddedLengths(seq);
  const paddedTexts = paddedWords.map((words, i) => makeTexts(dir, 1, words, 100 + i)[0]);
  const paddedEnc = tokenizer.encodeBatch(paddedTexts, encodeOptions);
  if (paddedEnc.length !== seq) throw new Error(`padded batch encodes to length ${paddedEnc.length}; expected ${seq}`);
  const paddedFile = path.join(dir, "padded.safetensors");
  await writeInputs(et, paddedFile, paddedEnc.inputIds, paddedEnc.attentionMask, [BATCH, seq]);
  const inputFile = { batch: batchFile, query: queryFile, padded: paddedFile };

  // Parity: a padded batch through the module, the query through forwardQuery (below). Random ids from
  // above the special ones (BERT: [PAD] 0; XLM-R: <s> 0, <pad> 1, </s> 2; CLIP: start 0, end/pad 1),
  // padding with pad_token_id; CLIP rows are start, ids, end, then padding to its 77 positions.
  const rand = prng(3);
  const pLength = clip ? seq : 32;
  const lengths = [pLength, 20, 9, 3];
  const firstId = { bert: 1, "xlm-roberta": 3, clip: 2 }[shape.family ?? "bert"];
  const pIds = new BigInt64Array(4 * pLength).fill(BigInt(shape.config.pad_token_id ?? 0));
  const pMask = new BigInt64Array(4 * pLength);
  lengths.forEach((len, b) => {
    for (let i = 0; i < len; i++) {
      pIds[b * pLength + i] = BigInt(firstId + Math.floor(rand() * 30000));
      pMask[b * pLength + i] = 1n;
    }
    if (clip) {
      pIds[b * pLength] = BigInt(shape.config.bos_token_id);
      pIds[b * pLength + len - 1] = BigInt(shape.config.eos_token_id);
    }
  });
  const pIdsT = et.Tensor.from(pIds, [4, pLength]);
  const pMaskT = et.Tensor.from(pMask, [4, pLength]);
  // CLIP's text tower takes input_ids alone (positional), the BERT family named ids and mask.
  const oursPadded = await module.forwardTensor(clip ? [pIdsT] : { input_ids: pIdsT, attention_mask: pMaskT });
  const oursPaddedData = oursPadded.toFloat32Array();
  const parityFile = path.join(dir, "parity.safetensors");
  await writeInputs(et, parityFile, pIds, pMask, [4, pLength], { "ours.module": oursPadded });
  pIdsT.dispose();
  pMaskT.dispose();
  module.dispose();

  // Engines in their own processes: ours and PyTorch, each with OpenBLAS' own detection and with CORETYPE.
  const variants = [];
  if (DEFAULT_OPENBLAS) variants.push({ label: "", coretype: null, slow: CORETYPE !== "none" });
  if (CORETYPE !== "none") variants.push({ label: ` + OPENBLAS_CORETYPE=${CORETYPE}`, coretype: CORETYPE, slow: false });
  const engines = [];
  const info = {};
  let oursQuery;
  for (const v of variants) {
    const ours = new JsonLineServer(`ours${v.label}`, process.execPath, [path.join(__dirname, "text-ours.js")], engineEnv(v.coretype));
    const loadedOurs = await ours.request({ cmd: "load", dir, family: shape.family, threads: THREADS, maxLength: seq, batchSize: BATCH, texts, padded: paddedTexts, query });
    const py = new JsonLineServer(`PyTorch eager${v.label}`, PYTHON, [path.join(__dirname, "python", "bench_text.py"), String(THREADS)], engineEnv(v.coretype));
    const loadedPy = await py.request({ cmd: "load", config: path.join(dir, "config.json"), weights: path.join(dir, "model.safetensors") });
    info[v.label || "default"] = { oursThreads: loadedOurs.threads, ...loadedPy };
    log(`  ${v.label || "default OpenBLAS"}: OpenBLAS core ${loadedPy.openblas_core}; ours ${loadedOurs.threads} threads, GEMMs ${loadedOurs.gemm ?? "at::addmm"}; torch ${loadedPy.torch} ${loadedPy.threads} threads, OMP_WAIT_POLICY=${loadedPy.omp_wait_policy}`);
    const timeServer = (server) => async (kind, iters, warmup) => {
      const reply = await server.request({ cmd: "time", kind, file: inputFile[kind], iters, warmup });
      return { samples: reply.samples, faults: reply.faults_per_call };
    };
    engines.push({ name: `ours${v.label}`, slow: v.slow, time: timeServer(ours), server: ours, queryOutput: Float32Array.from(loadedOurs.query) });
    engines.push({ name: `PyTorch eager${v.label}`, slow: v.slow, time: timeServer(py), server: py });
    if (v !== variants[variants.length - 1]) continue;  // the extra engines run under the last (loader's) OpenBLAS setting
    const extras = BASELINES.map((b) => ({ name: `ours, ${b.label}`, env: { ...engineEnv(v.coretype), BENCH_PACKAGE: b.dir }, load: {} }));
    // The same package on the other inference GEMM (native/models/inference_path.h, EMBEDDINGS_TORCH_GEMM):
    // at::addmm where oneDNN serves by default (it packs weights on this CPU), oneDNN where it is built but not chosen.
    if (loadedOurs.gemm?.startsWith("oneDNN")) extras.push({ name: "ours, at::addmm", env: { ...engineEnv(v.coretype), EMBEDDINGS_TORCH_GEMM: "addmm" }, load: {} });
    else if (/oneDNN \d/.test(loadedOurs.gemm ?? "")) extras.push({ name: "ours, oneDNN", env: { ...engineEnv(v.coretype), EMBEDDINGS_TORCH_GEMM: "onednn" }, load: {} });
    if (BF16) extras.push({ name: "ours, dtype bfloat16", env: engineEnv(v.coretype), load: { dtype: "bfloat16" }, reduced: true });
    // The forward alone on the ids onnxruntime gets (no tokenizer, no micro-batching).
    extras.push({ name: "ours, module.forwardTensor on the ids", env: engineEnv(v.coretype), load: { ids: true } });
    if (BF16) extras.push({ name: "ours, dtype bfloat16, module.forwardTensor on the ids", env: engineEnv(v.coretype), load: { dtype: "bfloat16", ids: true }, reduced: true });
    for (const x of extras) {
      const server = new JsonLineServer(x.name, process.execPath, [path.join(__dirname, "text-ours.js")], x.env);
      const loaded = await server.request({ cmd: "load", dir, family: shape.family, threads: THREADS, maxLength: seq, batchSize: BATCH, texts, padded: paddedTexts, query, ...x.load });
      engines.push({ name: x.name, slow: false, time: timeServer(server), server, queryOutput: Float32Array.from(loaded.query), reduced: x.reduced });
    }
    if (!oursQuery) oursQuery = Float32Array.from(loadedOurs.query);
  }
  const queryTensor = et.Tensor.from(oursQuery, [1, oursQuery.length]);
  await writeInputs(et, queryFile, queryEnc.inputIds, queryEnc.attentionMask, [1, queryLength], { "ours.forwardQuery": queryTensor });

  // PyTorch eager (default variant): parity, then the ONNX export.
  const py = engines.find((e) => e.name.startsWith("PyTorch eager")).server;
  const pyParity = { ...(await py.request({ cmd: "parity", file: parityFile })).max_abs_diff, ...(await py.request({ cmd: "parity", file: queryFile })).max_abs_diff };
  const onnxFile = path.join(dir, "model.onnx");
  const exported = await py.request({ cmd: "export", path: onnxFile });
  log(`  torch.onnx.export: ${exported.seconds.toFixed(1)} s`);

  // onnxruntime, in this process: graph optimisations "all", the same thread count; the optimised graph is
  // saved to show its fusions. Twice: with ORT's default spin-waiting intra-op threads, and without
  // (allow_spinning 0), which behaves better when other processes compete for the two cores.
  const optimizedFile = path.join(dir, "model.optimized.onnx");
  const sessionOptions = { graphOptimizationLevel: "all", intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: "sequential" };
  const sessions = [
    ["onnxruntime", await ort.InferenceSession.create(onnxFile, { ...sessionOptions, optimizedModelFilePath: optimizedFile })],
    ["onnxruntime, allow_spinning=0", await ort.InferenceSession.create(onnxFile, { ...sessionOptions, extra: { session: { intra_op: { allow_spinning: "0" } } } })],
  ];
  const session = sessions[0][1];
  // The export's own inputs (CLIP: input_ids only) and its one output (pooler_output / text_embeds).
  const feeds = (ids, mask, dims) => {
    const all = { input_ids: new ort.Tensor("int64", ids, dims), attention_mask: new ort.Tensor("int64", mask, dims) };
    return Object.fromEntries(session.inputNames.map((name) => [name, all[name]]));
  };
  const outputName = session.outputNames[0];
  const batchFeeds = feeds(batchEnc.inputIds, batchEnc.attentionMask, [BATCH, seq]);
  const queryFeeds = feeds(queryEnc.inputIds, queryEnc.attentionMask, [1, queryLength]);
  const idsFeeds = { batch: batchFeeds, query: queryFeeds, padded: feeds(paddedEnc.inputIds, paddedEnc.attentionMask, [BATCH, seq]) };
  const textsOf = { batch: texts, query: [query], padded: paddedTexts };
  const ortPadded = (await session.run(feeds(pIds, pMask, [4, pLength])))[outputName].data;
  const ortQuery = (await session.run(queryFeeds))[outputName].data;
  // "text in": the texts tokenized on every call by the tokenizer ours uses (this package's
  // TextTokenizer over @huggingface/tokenizers), then run: what a Node service on onnxruntime
  // does per request, and what ours' forwardItems / forwardQuery rows include.
  const fromText = (list) => {
    const enc = tokenizer.encodeBatch(list, encodeOptions);
    return feeds(enc.inputIds, enc.attentionMask, [list.length, enc.length]);
  };
  const timedSessions = [...sessions, ["onnxruntime, text in (tokenizer + run)", session, true]];
  for (const [name, s, textIn] of timedSessions) {
    engines.push({
      name,
      slow: false,
      time: async (kind, iters, warmup) => {
        const run = textIn ? () => s.run(fromText(textsOf[kind])) : () => s.run(idsFeeds[kind]);
        for (let i = 0; i < warmup; i++) await run();
        const samples = [];
        const before = process.resourceUsage().minorPageFault;
        for (let i = 0; i < iters; i++) samples.push(await timeAsync(run));
        return { samples, faults: (process.resourceUsage().minorPageFault - before) / Math.max(1, iters) };
      },
    });
  }

  // transformers.js, in its own process, on the same export (bench/text-transformersjs.js), fed the same ids.
  let tjsParity = null;
  if (TRANSFORMERS_JS) {
    const tjsDir = path.join(dir, "transformersjs");
    fs.mkdirSync(path.join(tjsDir, "onnx"), { recursive: true });
    fs.copyFileSync(path.join(dir, "config.json"), path.join(tjsDir, "config.json"));
    // CLIP: transformers.js' CLIPTextModelWithProjection reads onnx/text_model.onnx and feeds input_ids alone.
    fs.copyFileSync(onnxFile, path.join(tjsDir, "onnx", clip ? "text_model.onnx" : "model.onnx"));
    const plain = (ids, mask, dims) => ({ ids: Array.from(ids, Number), mask: clip ? null : Array.from(mask, Number), dims });
    const server = new JsonLineServer(`transformers.js ${TRANSFORMERS_JS}`, process.execPath, [path.join(__dirname, "text-transformersjs.js")], engineEnv(null));
    const loaded = await server.request({
      cmd: "load", dir: tjsDir, threads: THREADS, className: clip ? "CLIPTextModelWithProjection" : "AutoModel",
      batch: plain(batchEnc.inputIds, batchEnc.attentionMask, [BATCH, seq]),
      query: plain(queryEnc.inputIds, queryEnc.attentionMask, [1, queryLength]),
      padded: plain(paddedEnc.inputIds, paddedEnc.attentionMask, [BATCH, seq]),
      parity: plain(pIds, pMask, [4, pLength]),
    }).catch((error) => {
      log(`  transformers.js: skipped for ${shape.key}: it could not run this export (${error.message})`);
      server.proc.kill();
      return null;
    });
    if (loaded) {
      tjsParity = [
        [`transformers.js vs ours \`module.forwardTensor\` (padded batch)`, maxAbsDiff(Float32Array.from(loaded.parity), oursPaddedData)],
        [`transformers.js vs ours \`forwardQuery\``, maxAbsDiff(Float32Array.from(loaded.query), oursQuery)],
      ];
      engines.push({
        name: `transformers.js ${TRANSFORMERS_JS}`,
        slow: false,
        server,
        time: async (kind, iters, warmup) => {
          const reply = await server.request({ cmd: "time", kind, iters, warmup });
          return { samples: reply.samples, faults: reply.faults_per_call };
        },
      });
    }
  }

  const parity = [
    [`PyTorch eager vs ours \`module.forwardTensor\` (padded batch 4×${pLength}, lengths ${lengths.join("/")})`, pyParity.module],
    [`PyTorch eager vs ours \`forwardQuery\` (1×${queryLength})`, pyParity.forwardQuery],
    ["onnxruntime vs ours `module.forwardTensor` (padded batch)", maxAbsDiff(ortPadded, oursPaddedData)],
    ["onnxruntime vs ours `forwardQuery`", maxAbsDiff(ortQuery, oursQuery)],
    ...engines.filter((e) => e.queryOutput && e.queryOutput !== engines[0].queryOutput && !e.reduced).map((e) => [`${e.name} vs ours \`forwardQuery\``, maxAbsDiff(e.queryOutput, oursQuery)]),
    ...(tjsParity ?? []),
  ];
  const reduced = engines.filter((x) => x.reduced).map((e) => [`${e.name} vs ours float32 \`forwardQuery\``, cosine(e.queryOutput, oursQuery)]);
  for (const [what, c] of reduced) log(`  ${what}: cosine ${c.toFixed(5)}`);
  for (const [what, diff] of parity) log(`  parity: ${what}: max |Δ| = ${diff.toExponential(2)} ${diff <= TOLERANCE ? "OK" : "FAIL"} (tolerance ${TOLERANCE})`);

  // Timed calls: each engine runs `iters` calls per round, in its own process or (onnxruntime) here,
  // while the others idle; the order rotates per round.
  const samples = { batch: {}, query: {}, padded: {} };
  const faults = { batch: {}, query: {}, padded: {} };
  for (const kind of ["query", "batch", "padded"]) {
    const plan = shape[kind === "padded" ? "batch" : kind];
    const iters = Math.max(1, Math.round(plan.iters * SCALE));
    for (const e of engines) {
      samples[kind][e.name] = [];
      faults[kind][e.name] = [];
      if (plan.warmup) await e.time(kind, 0, plan.warmup);
    }
    for (let r = 0; r < plan.rounds; r++) {
      for (const e of rotate(engines, r)) {
        if (e.slow && r >= plan.slowRounds) continue;
        const got = await e.time(kind, iters, 0);
        samples[kind][e.name].push(...got.samples);
        faults[kind][e.name].push(got.faults);
        await sleep(200); // let the previous engine's spinning threads go idle
      }
      log(`  ${kind} round ${r + 1}/${plan.rounds} done`);
    }
  }

  // Tokenization alone (part of ours' numbers above), for the breakdown.
  const tokBatch = [];
  const tokQuery = [];
  for (let i = 0; i < 20; i++) {
    tokBatch.push(await timeAsync(() => tokenizer.encodeBatch(texts, encodeOptions)));
    tokQuery.push(await timeAsync(() => tokenizer.encodeBatch([query], encodeOptions)));
  }

  for (const e of engines) await e.server?.close();
  for (const [, s] of sessions) await s.release();
  const ops = { exported: countOps(onnxFile), optimized: countOps(optimizedFile) };
  return { samples, faults, parity, reduced, info, tokenize: { batch: stats(tokBatch), query: stats(tokQuery) }, ops, seq, queryLength, outputName, paddedWords, paddedTokens: paddedEnc.attentionMask.filter((v) => v === 1n).length };
}

function shapeTable(result) {
  const names = Object.keys(result.samples.batch);
  // Ratios to onnxruntime (default session): throughput ours/ORT (>1 is faster), latency ours/ORT (<1 is faster).
  const ortBatch = stats(result.samples.batch.onnxruntime).median;
  const ortQuery = stats(result.samples.query.onnxruntime).median;
  const ortPadded = stats(result.samples.padded.onnxruntime).median;
  const rows = names.map((name) => {
    const b = stats(result.samples.batch[name]);
    const q = stats(result.samples.query[name]);
    const p = stats(result.samples.padded[name]);
    const f = result.faults.batch[name];
    const faultsPerBatch = f.reduce((a, x) => a + x, 0) / f.length;
    return [name, fmt.ms(b.median), fmt.ms(b.p90), (BATCH / b.median).toFixed(1), `${(ortBatch / b.median).toFixed(2)}x`, fmt.ms(q.median), fmt.ms(q.p90), `${(q.median / ortQuery).toFixed(2)}x`, fmt.ms(p.median), (BATCH / p.median).toFixed(1), `${(ortPadded / p.median).toFixed(2)}x`, `${(faultsPerBatch / 1000).toFixed(0)}k`, `${b.n} / ${q.n} / ${p.n}`];
  });
  const query = result.queryLength === QUERY_TOKENS ? `1×${QUERY_TOKENS}` : `1×${QUERY_TOKENS} padded to ${result.queryLength}`;
  return table(["engine", `batch ${BATCH}×${result.seq}: median ms`, "p90 ms", "items/s", "throughput ÷ onnxruntime", `query ${query}: median ms`, "p90 ms", "latency ÷ onnxruntime", `padded batch ${BATCH}×${result.seq}: median ms`, "items/s", "throughput ÷ onnxruntime", "page faults / batch", "samples (batch / query / padded)"], rows);
}

function opsSummary(counts) {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([op, n]) => `${op}×${n}`)
    .join(", ");
}

async function main() {
  if (!TRANSFORMERS_JS) console.error("transformers.js: skipped (@huggingface/transformers is not in bench/node_modules: npm run bench:setup)");
  const et = loadPackage();
  et.setNumThreads(THREADS);
  const info = et.runtimeInfo();
  const m = machine(info);
  const log = (line) => console.error(line);
  const sections = [];
  for (const shape of SHAPES) {
    log(`${shape.title}`);
    const result = await benchShape(et, shape, log);
    const section = [
      `## ${shape.title}`,
      "",
      shapeTable(result),
      "",
      ...Object.entries(result.info).map(([variant, i]) => `- ${variant}: OpenBLAS kernels "${i.openblas_core}"; threads: ours ${i.oursThreads}, PyTorch ${i.threads} (torch ${i.torch})`),
      "",
      `Tokenization alone (inside ours' numbers): batch ${fmt.ms(result.tokenize.batch.median)} ms, query ${fmt.ms(result.tokenize.query.median)} ms (median).`,
      "",
      `Parity (${result.outputName}, float32):`,
      "",
      ...result.parity.map(([what, diff]) => `- ${what}: max |Δ| = ${diff.toExponential(2)} ${diff <= TOLERANCE ? "(OK" : "(FAIL"}, tolerance ${TOLERANCE})`),
      ...result.reduced.map(([what, c]) => `- ${what}: cosine ${c.toFixed(5)} (reduced precision)`),
      "",
      `ONNX graph as exported: ${opsSummary(result.ops.exported)}`,
      "",
      `after onnxruntime's "all" optimisations: ${opsSummary(result.ops.optimized)}`,
      "",
    ].join("\n");
    console.log(section);
    sections.push(section);
  }
  const command = `${BASELINES.length ? `BENCH_BASELINE=${process.env.BENCH_BASELINE} ` : ""}${process.env.BENCH_SHAPES ? `BENCH_SHAPES=${process.env.BENCH_SHAPES} ` : ""}npm run bench:text   (= npm run build:ts && node bench/text.js; addon: npx cmake-js build)`;
  const text = [
    preamble("bench/text: forwardItems throughput and query latency", command, m, [
      `engines: ours = a node process running TextToTextBertModel.fromPretrained(dir, {maxLength: ${SEQ}, batchSize: ${BATCH}}).forwardItems(texts) / .forwardQuery(text), tokenization included (bench/text-ours.js); PyTorch eager = a python process running bench/python/bert.py under torch.inference_mode() (${PYTHON}, timed in Python around model(ids, mask)); onnxruntime = onnxruntime-node ${require("onnxruntime-node/package.json").version} (CPU EP, graphOptimizationLevel "all", sequential; "allow_spinning=0": a second session with spin-waiting off; "text in": the default session fed by the tokenizer ours uses, tokenizing on every call as ours does) on torch.onnx.export (opset 14) of that model, in the driver process; the other onnxruntime rows are fed ready token ids. Each engine is timed inside its own process around one call. "+ OPENBLAS_CORETYPE=${CORETYPE}": the same engine with OpenBLAS forced to that core, the one our loader picks for this CPU (see README). transformers.js = @huggingface/transformers (bench/text-transformersjs.js, its own process) running AutoModel on the same ONNX export (fp32, the same threads), fed the same token ids. XLM-R: the same engines, TextToTextBertModel on an xlm-roberta folder, bench/python/bert.py with XLM-R position ids. CLIP text tower: ours = TextToImageClipModel.fromPretrained(dir).encodeQueries(texts, {grad: false}) / .forwardQuery(text), texts padded to the longest (the batch's texts fill the 77 positions, the query has 16 in every engine); PyTorch eager = bench/python/clip_text.py (input_ids -> text_embeds); transformers.js = CLIPTextModelWithProjection on the same export.`,
      "page faults / batch: minor page faults of the engine's process per batch call (onnxruntime: the driver process), i.e. fresh pages the allocator mapped and the kernel zeroed",
      `threads: ${THREADS} everywhere (setNumThreads, torch.set_num_threads, intraOpNumThreads); inputs: the same token ids for all three (random whole-word texts, truncated to ${SEQ} tokens: full attention mask; query ${QUERY_TOKENS} tokens; padded batch: ${BATCH} texts of 8 to ${SEQ} tokens (CLIP: 77), spread evenly, padded to the longest); random weights, seed 0`,
      `engines alternate in rounds (order rotated per round, 200 ms pause between blocks); ${SHAPES.map((sh) => `${sh.key}: batch ${sh.batch.rounds} rounds × ${sh.batch.iters} (default-OpenBLAS engines: first ${sh.batch.slowRounds} rounds), warm-up ${sh.batch.warmup}; query ${sh.query.rounds} × ${sh.query.iters}, warm-up ${sh.query.warmup}`).join("; ")}; BENCH_SCALE=${SCALE}`,
    ]),
    ...sections,
  ].join("\n");
  // A subset of the shapes (BENCH_SHAPES) gets a file of its own, so the full run's text.md stays.
  const resultFile = process.env.BENCH_SHAPES ? `text-${SHAPES.map((sh) => sh.key).join("-")}.md` : "text.md";
  console.log(`written: ${writeResult(resultFile, text)}`);
}

module.exports = { JsonLineServer, engineEnv, makeTexts, makeCheckpoint, SHAPES, THREADS, BATCH, SEQ };

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
