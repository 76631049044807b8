#!/usr/bin/env bash
# Fresh Debian 12 -> ready to run: system packages (when missing), npm
# dependencies, the native addon built from source, the TypeScript build.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# libgloo-dev: the Gloo headers c10d's ProcessGroupGloo.hpp includes (data-parallel training);
# Debian's libtorch-dev does not depend on it.
# libdnnl-dev: the headers of the oneDNN libtorch links (packed-weight GEMMs for CPU inference).
packages=(libtorch-dev libopenblas0-pthread libgloo-dev libdnnl-dev python3-torch build-essential cmake protobuf-compiler python3-protobuf)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm ci when node_modules is missing, older than the lockfile, or incomplete
# (an interrupted install leaves a partial tree that `npm ls` reports).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || ! npm ls --depth=0 >/dev/null 2>&1; then
  [ -d node_modules ] && echo "setup: node_modules is missing packages or older than package-lock.json: reinstalling"
  npm ci --no-audit --no-fund
fi

# The compiler's warnings from libtorch's headers fill pages: keep them in a log, show it on failure.
echo "setup: building the addon (log: build/setup-build.log)"
mkdir -p build
npx cmake-js compile --log-level warn > build/setup-build.log 2>&1 || { tail -60 build/setup-build.log; exit 1; }
grep -E "embeddings-torch: libtorch" build/setup-build.log || true
npm run build:ts --silent
node -e "const i = require('./dist').runtimeInfo(); console.log('setup: libtorch ' + i.torchVersion + ' (' + i.torchSource + '), CUDA ' + (i.cudaAvailable ? 'yes' : 'no') + ', ' + i.numThreads + ' threads, addon ' + i.addon)"
