// bench/images: TextToImageClipModel.forwardItems on photos, i.e. decoding, resizing and cropping
// on the pixel workers (lib/images/pixel-pool.ts) and the vision tower's forward, batch after batch.
// Model: a CLIPModel folder with ViT-B/32's vision shape (hidden 768, 12 layers, patch 32, 224 pixels;
// random weights, seed 0) and test/fixtures/clip-tiny's text tower, tokenizer and preprocessing at 224;
// items: 64 JPEGs of 1024 x 768 (smoothed noise, quality 85), batchSize 16, 2 intra-op threads.
// Each engine (this package; BENCH_BASELINE=label=dir,... adds other package folders, e.g. the
// previous version) runs in its own process, one per round, engines alternating; 1 warm-up call of
// 16 photos, then BENCH_CALLS (default 3) timed calls of all 64.
//   npm run bench:images     Writes bench/results/images.md (model and photos in bench/out/images).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { loadPackage, baselinePackages, stats, rotate, machine, table, preamble, writeResult, ROOT } = require("./common");

const OUT = path.join(ROOT, "bench", "out", "images");
const PHOTOS = 64;
const BATCH = 16;
const THREADS = 2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CALLS = Number(process.env.BENCH_CALLS ?? 3);
const FIXTURE = path.join(ROOT, "test", "fixtures", "clip-tiny");
const VISION = { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, image_size: 224, patch_size: 32 };

/** The engine process: times forwardItems with the package in `dir` and prints its samples (seconds) as JSON. */
async function engine(dir) {
  const et = require(path.join(dir, "dist", "index.js"));
  et.setNumThreads(THREADS);
  const model = await et.TextToImageClipModel.fromPretrained(OUT, { batchSize: BATCH });
  const photos = fs.readdirSync(path.join(OUT, "photos")).sort().map((f) => path.join(OUT, "photos", f));
  (await model.forwardItems(photos.slice(0, BATCH))).dispose();
  const samples = [];
  for (let i = 0; i < CALLS; i++) {
    const start = process.hrtime.bigint();
    const out = await model.forwardItems(photos);
    samples.push(Number(process.hrtime.bigint() - start) / 1e9);
    out.dispose();
  }
  model.dispose();
  process.stdout.write(JSON.stringify(samples));
}

/** The model folder and the photos, made once (bench/out is git-ignored). */
async function prepare(et) {
  if (fs.existsSync(path.join(OUT, "photos", `p${PHOTOS - 1}.jpg`))) return;
  const sharp = require("sharp");
  fs.mkdirSync(path.join(OUT, "photos"), { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(FIXTURE, "config.json"), "utf8"));
  config.vision_config = { ...config.vision_config, ...VISION };
  et.manualSeed(0);
  const text = et.Module.create("clip-text", { ...config.text_config, projection_dim: config.projection_dim });
  const vision = et.Module.create("clip-vision", { ...config.vision_config, projection_dim: config.projection_dim });
  const { writeSafetensors } = require("../dist/hub/safetensors");
  await writeSafetensors(path.join(OUT, "model.safetensors"), new Map([...text.stateDict(), ...vision.stateDict()]));
  text.dispose();
  vision.dispose();
  fs.writeFileSync(path.join(OUT, "config.json"), JSON.stringify(config, null, 2));
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(FIXTURE, f), path.join(OUT, f));
  const processor = JSON.parse(fs.readFileSync(path.join(FIXTURE, "preprocessor_config.json"), "utf8"));
  fs.writeFileSync(path.join(OUT, "preprocessor_config.json"), JSON.stringify({ ...processor, crop_size: { height: 224, width: 224 }, size: { shortest_edge: 224 } }, null, 2));
  for (let i = 0; i < PHOTOS; i++) {
    const raw = Buffer.alloc(1024 * 768 * 3);
    for (let k = 0; k < raw.length; k++) raw[k] = ((k * 2654435761 + i * 97) >>> 24) & 255;
    await sharp(raw, { raw: { width: 1024, height: 768, channels: 3 } }).blur(2).jpeg({ quality: 85 }).toFile(path.join(OUT, "photos", `p${i}.jpg`));
  }
}

async function main() {
  const et = loadPackage();
  await prepare(et);
  const baselines = baselinePackages().map((b) => ({ label: `ours, ${b.label}`, dir: b.dir }));
  const engines = [{ label: "ours", dir: ROOT }, ...baselines].map((e) => ({ ...e, samples: [] }));
  for (let round = 0; round < ROUNDS; round++)
    for (const e of rotate(engines, round)) {
      const run = spawnSync(process.execPath, [__filename, "--engine", e.dir], { encoding: "utf8", maxBuffer: 1 << 20 });
      if (run.status !== 0) throw new Error(`${e.label}: exit ${run.status}\n${run.stderr}`);
      e.samples.push(...JSON.parse(run.stdout));
      console.log(`  round ${round + 1}/${ROUNDS}: ${e.label} done`);
    }
  const reference = stats(engines[0].samples).median;
  const rows = engines.map((e) => {
    const s = stats(e.samples);
    return [e.label, (s.median * 1e3).toFixed(0), (s.p90 * 1e3).toFixed(0), (PHOTOS / s.median).toFixed(1), `${(reference / s.median).toFixed(2)}x`, String(e.samples.length)];
  });
  const command = `${baselines.length ? `BENCH_BASELINE=${process.env.BENCH_BASELINE} ` : ""}npm run bench:images`;
  const text = [
    preamble("bench/images: forwardItems on photos", command, machine(et.runtimeInfo()), [
      `model: CLIPModel folder, vision tower ViT-B/32's shape (hidden 768, 12 layers, patch 32, 224 pixels, random weights), preprocessing: resize the shortest edge to 224, centre crop 224 (test/fixtures/clip-tiny's processor otherwise)`,
      `items: ${PHOTOS} JPEGs of 1024 x 768, batchSize ${BATCH}, ${THREADS} intra-op threads; each engine in its own process per round, ${ROUNDS} rounds alternating, ${CALLS} timed calls per round after one warm-up call of ${BATCH} photos`,
    ]),
    table(["engine", `forwardItems(${PHOTOS} photos): median ms`, "p90 ms", "images/s", "speed ÷ ours", "samples"], rows),
  ].join("\n");
  console.log(text);
  writeResult("images.md", text);
}

if (process.argv[2] === "--engine") engine(process.argv[3]).catch((error) => {
  console.error(error);
  process.exit(1);
});
else main().catch((error) => {
  console.error(error);
  process.exit(1);
});
