#!/usr/bin/env bash
# Every device check in one call on the lent GPU machine (see README, "GPU route"): kernel correctness on
# the real adapter, per-kernel and per-step benchmarks, and the PyTorch anchors measured in the same call.
# Prepare here: npm ci && ../shared/gpu/pack && cp ../shared/anchors/*.py .gpu/
# Run there:    bash bench/gpu-run.sh   (carry [".gpu"]; results under $OUT); most important first
set -uo pipefail
source .gpu/setup.sh
out=${OUT:-$(mktemp -d)}; mkdir -p "$out"
# exact per-dispatch timestamps (Dawn quantizes them to 65.5 µs by default)
export VOXGRAD_DAWN_OPTIONS="disable-dawn-features=timestamp_quantization"
tsx=node_modules/.bin/tsx
step() { local t=$1; shift; echo "=== $* (limit ${t}s)"; local s=$SECONDS; timeout "$t" "$@" 2>&1 | grep -v -e '^Warning: max' -e 'artificially reduced' | tee -a "$out/log.txt"; echo "--- $((SECONDS - s)) s"; }
step 45 $tsx bench/vnet-step.ts --iters 3 --warmup 1 --json "$out/vnet-step.json"
step 45 python3 .gpu/torch_vnet_step.py
step 20 python3 bench/torch_inference.py --cases 1 --anchor ../.gpu/torch_vnet_step.py
step 40 $tsx bench/dbisl-step.ts --iters 3 --warmup 1 --json "$out/dbisl-step.json"
step 60 $tsx bench/kernels.ts --large --reps 5 --json "$out/kernels.json"
step 30 python3 .gpu/torch_vnet_layers.py
step 25 $tsx bench/inference.ts --cases 1 --json "$out/inference.json"
step 40 node_modules/.bin/vitest run test/kernels/conv3d.test.ts
