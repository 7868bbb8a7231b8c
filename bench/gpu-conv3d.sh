#!/usr/bin/env bash
# The conv3d kernel choice measured in one call on the lent GPU machine, most important first: the V-Net step's
# conv problems tuned (every candidate checked against the default kernel and timed; the A/B per problem; the
# step before and after), cuDNN's per-layer times in the same call, the implicit GEMM's and the tuner's tests on
# the real adapter, and the per-layer benchmark variants of the encoder's 3³ layers beside cuDNN.
# Prepare here: npm ci && ../shared/gpu/pack && cp ../shared/anchors/*.py .gpu/
# Run there:    bash bench/gpu-conv3d.sh   (carry [".gpu"]; timeout_s 600; results under $OUT)
set -uo pipefail
source .gpu/setup.sh
out=${OUT:-$(mktemp -d)}; mkdir -p "$out"
# exact per-dispatch timestamps (Dawn quantizes them to 65.5 µs by default)
export VOXGRAD_DAWN_OPTIONS="disable-dawn-features=timestamp_quantization"
tsx=node_modules/.bin/tsx
step() { local t=$1; shift; echo "=== $* (limit ${t}s)"; local s=$SECONDS; timeout "$t" "$@" 2>&1 | grep -v -e '^Warning: max' -e 'artificially reduced' | tee -a "$out/log.txt"; echo "--- $((SECONDS - s)) s"; }
step 280 $tsx bench/conv3d-tune.ts --reps 3 --iters 3 --json "$out/conv3d-tune.json"
step 40 python3 .gpu/torch_vnet_layers.py
step 80 node_modules/.bin/vitest run test/kernels/conv3d-gemm.test.ts test/kernels/conv3d-tune.test.ts
step 120 $tsx bench/kernels.ts --large --reps 3 --filter "conv3d enc" --json "$out/kernels-enc.json"
step 10 $tsx bench/layer-table.ts "$out/kernels-enc.json" "$out/log.txt"
echo "=== summary"
grep -E "^  step with|^  Σ over|Tests |^enc[0-9] conv3 " "$out/log.txt"
