#!/usr/bin/env bash
# The package as users get it: `npm pack` the repository given (default: this
# one), install the tarball into an empty project with plain npm, and there
# run a CommonJS and an ES module script that embed with a fixture model
# (checked against transformers' output), type-check a consumer under
# `module: node16` and `moduleResolution: bundler`, run
# `npx embeddings-torch --version`, and a shortened demo.
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d /tmp/et-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { echo "package-check: $*"; }

log "npm pack (prepack builds dist/)"
tarball=$(cd "$repo" && npm pack --pack-destination "$work" --silent | tail -1)
tar tzf "$work/$tarball" > "$work/files.txt"
if grep -E '\.map$|^package/(test|bench|lib)/' "$work/files.txt"; then log "the tarball ships source maps or development folders (above)"; exit 1; fi
for f in package/LICENSE package/dist/index.mjs package/dist/index.d.mts package/models/default/config.json package/data/clickstream.jsonl package/prebuilds/manifest.json package/docs/triton.md; do
  grep -qx "$f" "$work/files.txt" || { log "the tarball lacks $f"; exit 1; }
done
log "$tarball: $(wc -l < "$work/files.txt") files, $(du -k "$work/$tarball" | cut -f1) KiB"

mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
# Plain npm, no environment variables: nothing may be compiled or downloaded at install.
npm install --no-audit --no-fund "$work/$tarball" typescript@5 @types/node@20 >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
[ ! -e node_modules/embeddings-torch/build ] || { log "the install compiled something (node_modules/embeddings-torch/build exists)"; exit 1; }

fixture="$repo/test/fixtures/bert-tiny"
cat > embed.cjs <<JS
const et = require("embeddings-torch");
const { check } = require("./check.cjs");
check(et, "CommonJS");
JS
cat > embed.mjs <<JS
import { TextToTextBertModel, readSafetensors } from "embeddings-torch";
import cjs from "./check.cjs";
await cjs.check({ TextToTextBertModel, readSafetensors }, "ES module");
JS
cat > check.cjs <<JS
// forwardItems on bert-tiny equals transformers' pooler_output (test/fixtures/bert-tiny, max_length 32) within 1e-5.
const fs = require("node:fs");
exports.check = async ({ TextToTextBertModel, readSafetensors }, flavour) => {
  const texts = JSON.parse(fs.readFileSync("$fixture/reference.json", "utf8")).texts;
  const model = await TextToTextBertModel.fromPretrained("$fixture", { maxLength: 32, padding: "max_length" });
  const got = (await model.forwardItems(texts)).toFloat32Array();
  const ref = (await readSafetensors("$fixture/reference.safetensors")).tensors.get("fixed.cpu.pooler_output");
  const want = new Float32Array(ref.bytes.buffer.slice(ref.bytes.byteOffset, ref.bytes.byteOffset + ref.bytes.byteLength));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  if (got.length !== want.length || !(worst < 1e-5)) throw new Error(flavour + ": pooler_output differs from transformers by " + worst);
  console.log("package-check: " + flavour + " import: " + texts.length + " embeddings equal transformers' within " + worst.toExponential(1));
  model.dispose();
};
JS
node embed.cjs
node embed.mjs

cat > consumer.mts <<'TS'
import { TextToTextE5Model, Trainer, type Tensor, type Device } from "embeddings-torch";
const device: Device = "cpu";
export async function embed(dir: string): Promise<Tensor> {
  const model = await TextToTextE5Model.fromPretrained(dir, { maxLength: 64, device });
  return model.forwardQuery("red shoes");
}
export const trainer = new Trainer({ maxEpochs: 1 });
TS
cat > consumer.cts <<'TS'
import et = require("embeddings-torch");
export const tensor: typeof et.Tensor = et.Tensor;
TS
cp consumer.mts consumer.ts
echo '{"compilerOptions":{"module":"node16","moduleResolution":"node16","strict":true,"noEmit":true,"target":"ES2022","lib":["ES2022","esnext.disposable"],"types":["node"]},"files":["consumer.mts","consumer.cts"]}' > tsconfig.node16.json
echo '{"compilerOptions":{"module":"esnext","moduleResolution":"bundler","strict":true,"noEmit":true,"target":"ES2022","lib":["ES2022","esnext.disposable"],"types":["node"]},"files":["consumer.ts"]}' > tsconfig.bundler.json
npx tsc -p tsconfig.node16.json
npx tsc -p tsconfig.bundler.json
log "types resolve under module node16 and moduleResolution bundler"

want=$(node -p "require('$repo/package.json').version")
got=$(npx embeddings-torch --version)
[ "$got" = "$want" ] || { log "npx embeddings-torch --version printed '$got', package.json says $want"; exit 1; }
log "npx embeddings-torch --version: $got"

npx embeddings-torch demo --max-steps 10 --no-export > demo.log 2>&1 || { cat demo.log; exit 1; }
tail -3 demo.log
[ -f demo-output/model/model.safetensors ] && [ -f demo-output/logs/metrics.csv ] || { log "the demo wrote no ./demo-output/model or logs"; ls -R demo-output; exit 1; }
log "npx embeddings-torch demo (10 steps) wrote ./demo-output"
