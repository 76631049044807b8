#!/usr/bin/env bash
# One device call on the GPU machine (no Node, no network there): unpack the
# carried Node and node_modules (scripts/gpu-pack.sh made them), build the
# addon against the machine's PyTorch (CUDA), run the CUDA tests (data-parallel
# training on NCCL among them) and the CPU parity tests on libtorch 2.x, benchmark against transformers, build the CUDA
# prebuild, and leave results in $OUT.
#   device run: carry [".device"], command: bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
log() { echo "gpu-check: $*" | tee -a "$OUT/summary.txt"; }
D=.device
start=$(date +%s)

mkdir -p /tmp/node && xz -dc "$D"/node-*.xz > /tmp/node/node && chmod +x /tmp/node/node
export PATH=/tmp/node:$PATH
[ -d node_modules/cmake-js ] || tar xJf "$D/node_modules.tar.xz"
PY=${EMBEDDINGS_TORCH_PYTHON:-/opt/torch/.venv/bin/python}
export EMBEDDINGS_TORCH_PYTHON=$PY EMBEDDINGS_TORCH_TEST_PYTHON=$PY EMBEDDINGS_TORCH_REFERENCE_PYTHON=$PY
TP=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
CUDA_VERSION=$("$PY" -c 'import torch; print(torch.version.cuda)')
log "node $(node --version), torch $TORCH_VERSION, CUDA $CUDA_VERSION, $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"

# GPU_CHECK_MODE=prebuild: only the committed CUDA prebuild (no build, no benchmark).
MODE=${GPU_CHECK_MODE:-full}
if [ "$MODE" = full ]; then
node node_modules/cmake-js/bin/cmake-js compile --CDCMAKE_PREFIX_PATH="$TP" --parallel 16 > "$OUT/build.log" 2>&1
rc=$?
log "build rc=$rc in $(( $(date +%s) - start )) s"
if [ $rc -ne 0 ]; then grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; fi
export EMBEDDINGS_TORCH_ADDON=$PWD/build/Release/embeddings_torch.node
export LD_LIBRARY_PATH="$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'):${LD_LIBRARY_PATH:-}"

timeout 150 node node_modules/jest/bin/jest.js --rootDir "$D/js" --config '{"testEnvironment":"node","setupFiles":["<rootDir>/test/helpers/setup.js"],"globalSetup":"<rootDir>/test/helpers/global-setup.js","testTimeout":300000}' --runInBand --testMatch '**/test/cuda/**/*.test.js' --testPathIgnorePatterns ddp-nccl > "$OUT/cuda-tests.log" 2>&1
log "CUDA tests rc=$? ($(grep -E '^Tests:' "$OUT/cuda-tests.log"))"

# Data-parallel training on NCCL (README "Data-parallel training"): what the build's probes
# found, then 1 NCCL rank on the GPU against 1 process (one GPU cannot hold two NCCL ranks).
grep -E "embeddings-torch: c10d (Gloo|NCCL)" "$OUT/build.log" | sed 's/^-- //' | while read -r line; do log "probe: $line"; done
timeout 200 node node_modules/jest/bin/jest.js --rootDir "$D/js" --config '{"testEnvironment":"node","setupFiles":["<rootDir>/test/helpers/setup.js"],"globalSetup":"<rootDir>/test/helpers/global-setup.js","testTimeout":300000}' --runInBand --testMatch '**/test/cuda/ddp-nccl.cuda.test.js' > "$OUT/ddp-nccl.log" 2>&1
rc=$?
log "NCCL DDP, 1 rank vs 1 process on cuda: rc=$rc ($(grep -E '^Tests:' "$OUT/ddp-nccl.log")) $(grep -oE 'max \|1 NCCL rank - 1 process\| = [0-9.e+-]+' "$OUT/ddp-nccl.log") $(grep -m1 -E '^skipped test/cuda/ddp-nccl' "$OUT/ddp-nccl.log")"
[ $rc -eq 0 ] || grep -E "✕|Expected|Received|FAILED|NCCL WARN|Error" "$OUT/ddp-nccl.log" | head -20
timeout 150 node node_modules/jest/bin/jest.js --rootDir "$D/js" --config '{"testEnvironment":"node","setupFiles":["<rootDir>/test/helpers/setup.js"],"globalSetup":"<rootDir>/test/helpers/global-setup.js","testTimeout":300000}' --maxWorkers 8 --testMatch '**/test/parity/**/*.test.js' > "$OUT/parity-2x.log" 2>&1
log "CPU parity on libtorch $TORCH_VERSION rc=$? ($(grep -E '^Tests:' "$OUT/parity-2x.log"))"

if [ -f "$D/js/bench/gpu.js" ]; then
  # GPU_PROFILE_OUT: also torch.profiler kernel tables of ours (traced) vs HF (bench/python/profile_gpu.py)
  GPU_PROFILE_OUT="$OUT/gpu-profile.md" timeout 260 node "$D/js/bench/gpu.js" > "$OUT/gpu-bench.md" 2> "$OUT/gpu-bench.err"
  log "GPU bench rc=$? (profile: $(wc -l < "$OUT/gpu-profile.md" 2>/dev/null || echo no) lines)"
fi

fi

# The committed CUDA prebuild, as a user gets it: no build folder, no
# LD_LIBRARY_PATH, only the machine's pip torch for the loader to find.
cp -r prebuilds package.json "$D/js/"
( unset EMBEDDINGS_TORCH_ADDON LD_LIBRARY_PATH
  node -e "const r = require('./$D/js/lib/runtime').runtimeInfo(); console.log('loaded ' + r.addon + ' (libtorch ' + r.torchVersion + ', CUDA ' + r.cudaAvailable + ')')"
  timeout 150 node node_modules/jest/bin/jest.js --rootDir "$D/js" --config '{"testEnvironment":"node","setupFiles":["<rootDir>/test/helpers/setup.js"],"globalSetup":"<rootDir>/test/helpers/global-setup.js","testTimeout":300000}' --runInBand --testMatch '**/test/cuda/**/*.test.js' '**/test/e2e/transformers-load.test.js' ) > "$OUT/prebuild-cuda-tests.log" 2>&1
log "committed CUDA prebuild: rc=$? $(head -1 "$OUT/prebuild-cuda-tests.log") ($(grep -E '^Tests:' "$OUT/prebuild-cuda-tests.log"))"

if [ "$MODE" = full ]; then
  node scripts/prebuild.js --cuda "$CUDA_VERSION" > "$OUT/prebuild.log" 2>&1
  log "CUDA prebuild rc=$? $(tail -1 "$OUT/prebuild.log")"
  # The CUDA prebuild must need at most glibc 2.28 (README "Prebuilds"; test/e2e/loader.test.ts checks it).
  need=$(node scripts/elf-needs.js prebuilds/cuda/*/embeddings-torch.napi.node 2>/dev/null)
  log "CUDA prebuild needs $need (the baseline is glibc 2.28: a higher need fails the loader test)"
  objdump -T prebuilds/cuda/*/embeddings-torch.napi.node | grep -E "GLIBC_2\.(29|3[0-9])" > "$OUT/glibc-over-2.28.txt" || true
  # torch's headers (for building the CUDA prebuild on a Debian 12 CPU machine against stub libraries), if small enough to carry back.
  tdir=$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
  tar cf - -C "$tdir" include | xz -T16 -9 > "$OUT/torch-include.tar.xz"
  [ "$(stat -c %s "$OUT/torch-include.tar.xz")" -lt 16000000 ] || rm -f "$OUT/torch-include.tar.xz"
  ls "$tdir/lib" > "$OUT/torch-libs.txt"
  cp prebuilds/manifest.json "$OUT/manifest.json" 2>/dev/null
  cp prebuilds/cuda/*/embeddings-torch.napi.node "$OUT/embeddings-torch.cuda.node" 2>/dev/null
fi
log "done in $(( $(date +%s) - start )) s"
tail -30 "$OUT/cuda-tests.log"
