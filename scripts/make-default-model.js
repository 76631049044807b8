#!/usr/bin/env node
// Makes the shipped default model, models/default: a small BERT (hidden 128,
// 4 layers) with random weights (Hugging Face's init: normal(0, 0.02), LayerNorm
// 1/0, biases 0; seeded) and a real WordPiece tokenizer whose vocabulary is the
// characters plus the most frequent words of a corpus (the clickstream sample).
// The weights are synthetic: the demo fine-tunes them; they know no language.
//   node scripts/make-default-model.js data/catalogue.jsonl data/sessions.jsonl
// Needs dist/ (npm run build:ts) for writing safetensors through the addon.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { Module, Tensor } = require("../dist");
const { mulberry32 } = require("../dist/training/random");

const OUT = path.join(__dirname, "..", "models", "default");
const VOCAB_SIZE = 4000;
const CONFIG = {
  architectures: ["BertModel"], model_type: "bert", hidden_size: 128, num_hidden_layers: 4, num_attention_heads: 4,
  intermediate_size: 512, hidden_act: "gelu", hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 64, type_vocab_size: 2, layer_norm_eps: 1e-12, pad_token_id: 0, initializer_range: 0.02,
};
const SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/** Words of the "text" and "query" fields of JSONL files, lowercased and split as BERT's pre-tokenizer does. */
function words(files) {
  const counts = new Map();
  const add = (value) => {
    if (typeof value !== "string") return;
    for (const w of value.toLowerCase().normalize("NFD").replace(/\p{Mn}/gu, "").match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  };
  for (const file of files)
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      if (!line.trim()) continue;
      const record = JSON.parse(line);
      add(record.text);
      add(record.query);
    }
  return counts;
}

function vocabulary(counts) {
  const vocab = [...SPECIALS];
  const seen = new Set(vocab);
  const add = (t) => { if (!seen.has(t)) { seen.add(t); vocab.push(t); } };
  for (let c = 33; c < 127; c++) add(String.fromCharCode(c));
  for (const c of "abcdefghijklmnopqrstuvwxyz0123456789") add(`##${c}`);
  const chars = new Set([...counts.keys()].flatMap((w) => [...w]));
  for (const c of chars) { add(c); add(`##${c}`); }
  for (const [w] of [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) {
    if (vocab.length >= VOCAB_SIZE) break;
    add(w);
  }
  return vocab;
}

function tokenizerJson(vocab) {
  const id = (t) => vocab.indexOf(t);
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: SPECIALS.map((content, i) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }, { SpecialToken: { id: "[SEP]", type_id: 1 } }],
      special_tokens: { "[CLS]": { id: "[CLS]", ids: [id("[CLS]")], tokens: ["[CLS]"] }, "[SEP]": { id: "[SEP]", ids: [id("[SEP]")], tokens: ["[SEP]"] } },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
}

/** Seeded normal(0, std) samples (the package's mulberry32 + Box-Muller): the same file on every machine. */
function normal(n, std, seed) {
  const uniform = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform()) * std;
  return out;
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) throw new Error("usage: make-default-model.js <corpus.jsonl>...");
  const vocab = vocabulary(words(files));
  const config = { ...CONFIG, vocab_size: vocab.length };
  const module = Module.create("bert", { ...config, architectures: undefined, pooling: "pooler", add_pooling_layer: true });
  const weights = new Map();
  module.namedParameters().forEach((p, i) => {
    const n = p.shape.reduce((x, y) => x * y, 1);
    const isNorm = p.name.includes("LayerNorm");
    const data = p.name.endsWith(".bias") ? new Float32Array(n) : isNorm ? new Float32Array(n).fill(1) : normal(n, config.initializer_range, 1234 + i);
    if (p.name === "embeddings.word_embeddings.weight") data.fill(0, 0, config.hidden_size);  // padding row, as HF zeroes it
    weights.set(p.name, Tensor.from(data, p.shape));
  });
  await module.loadStateDict(weights);
  fs.mkdirSync(OUT, { recursive: true });
  await module.saveStateDict(path.join(OUT, "model.safetensors"), { format: "pt" });
  fs.writeFileSync(path.join(OUT, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  fs.writeFileSync(path.join(OUT, "tokenizer.json"), JSON.stringify(tokenizerJson(vocab)));
  fs.writeFileSync(path.join(OUT, "tokenizer_config.json"), `${JSON.stringify({ backend: "tokenizers", cls_token: "[CLS]", do_lower_case: true, mask_token: "[MASK]", model_max_length: 64, pad_token: "[PAD]", sep_token: "[SEP]", strip_accents: null, tokenize_chinese_chars: true, tokenizer_class: "BertTokenizer", unk_token: "[UNK]" }, null, 2)}\n`);
  console.log(`models/default: BERT hidden ${config.hidden_size}, ${config.num_hidden_layers} layers, vocabulary ${vocab.length} from ${files.join(", ")}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
