#!/usr/bin/env bash
# Every device check in one call on the lent GPU machine (see README, "GPU route"), most important first: the
# V-Net step with the default kernels and then with tuned conv3d kernels (cuDNN's benchmark mode: every candidate
# checked against the default and timed per problem), the PyTorch anchors in the same call, the DBiSL step,
# the kernel tests on the real adapter, per-kernel benchmarks beside cuDNN's per-layer times, inference.
# Prepare here: npm ci && ../shared/gpu/pack && cp ../shared/anchors/*.py .gpu/
# Run there:    bash bench/gpu-run.sh   (carry [".gpu"]; timeout_s 600; results under $OUT)
#               bash bench/gpu-run.sh quick   (the step benchmarks, the tuner's tests and inference only, ~3 min)
set -uo pipefail
source .gpu/setup.sh
out=${OUT:-$(mktemp -d)}; mkdir -p "$out"
# exact per-dispatch timestamps (Dawn quantizes them to 65.5 µs by default)
export VOXGRAD_DAWN_OPTIONS="disable-dawn-features=timestamp_quantization"
tsx=node_modules/.bin/tsx
step() { local t=$1; shift; echo "=== $* (limit ${t}s)"; local s=$SECONDS; timeout "$t" "$@" 2>&1 | grep -v -e '^Warning: max' -e 'artificially reduced' | tee -a "$out/log.txt"; echo "--- $((SECONDS - s)) s"; }
if [ "${1:-}" = quick ]; then
  # after a change: the default and tuned V-Net step with its anchor, the DBiSL step with the default kernels,
  # the tuner's tests and those of the kernels new since the last GPU call (fused T_s2r and losses, conv epilogue,
  # grouped conv, float16 rounding) on the adapter, inference at window batches 1 and 4 beside PyTorch
  step 200 $tsx bench/vnet-step.ts --iters 10 --warmup 2 --tune --tune-reps 5 --json "$out/vnet-step.json"
  step 45 python3 .gpu/torch_vnet_step.py
  step 60 $tsx bench/dbisl-step.ts --iters 10 --warmup 2 --json "$out/dbisl-step.json"
  step 180 node_modules/.bin/vitest run test/kernels/conv3d-tune.test.ts test/kernels/conv3d-wgemm.test.ts test/kernels/cdt.test.ts test/kernels/loss.test.ts \
    test/kernels/conv3d-epilogue.test.ts test/kernels/conv3d-grouped.test.ts test/kernels/elementwise-float16.test.ts test/models/vnet-fuse.test.ts \
    test/kernels/dualtask.test.ts test/kernels/optim.test.ts test/kernels/amp.test.ts test/kernels/device-assert.test.ts test/kernels/pool.test.ts
  for wb in 1 4; do
    step 20 python3 bench/torch_inference.py --cases 1 --window-batch $wb --anchor ../.gpu/torch_vnet_step.py
    step 25 $tsx bench/inference.ts --cases 1 --window-batch $wb --json "$out/inference-b$wb.json"
  done
  echo "=== summary"
  grep -E "median step|back to back|peak memory|torch vnet train step|Σ over distinct|windows/s|Tests " "$out/log.txt"
  exit 0
fi
step 240 $tsx bench/vnet-step.ts --iters 10 --warmup 2 --submit-every 512,128,64,32,16 --tune --tune-reps 5 --json "$out/vnet-step.json"
step 45 python3 .gpu/torch_vnet_step.py
step 150 $tsx bench/dbisl-step.ts --iters 10 --warmup 2 --submit-every 512,64,16 --tune --json "$out/dbisl-step.json"
step 120 node_modules/.bin/vitest run test/kernels/conv3d.test.ts test/kernels/conv3d-down.test.ts test/kernels/conv3d-gemm.test.ts test/kernels/conv3d-tune.test.ts test/kernels/conv3d-cache.test.ts test/kernels/conv3d-wgemm.test.ts test/imaging/sliding-window.test.ts test/kernels/norm.test.ts test/kernels/runtime-pool.test.ts test/kernels/cdt.test.ts test/kernels/loss.test.ts test/dbisl/transform.test.ts test/kernels/conv3d-epilogue.test.ts test/kernels/conv3d-grouped.test.ts test/kernels/elementwise-float16.test.ts test/models/vnet-fuse.test.ts
step 30 python3 .gpu/torch_vnet_layers.py
step 70 $tsx bench/kernels.ts --large --reps 5 --exclude ' · ' --json "$out/kernels.json"
step 10 $tsx bench/layer-table.ts "$out/kernels.json" "$out/log.txt"
step 20 python3 bench/torch_inference.py --cases 1 --anchor ../.gpu/torch_vnet_step.py
step 25 $tsx bench/inference.ts --cases 1 --json "$out/inference.json"
# where the host's recording time goes (a CPU profile of untuned steps; read it with bench/cpu-profile.py)
step 60 node --cpu-prof --cpu-prof-dir="$out/prof" --import tsx bench/vnet-step.ts --iters 5 --warmup 2
echo "=== summary"
grep -E "median step|back to back|peak memory|torch vnet train step|Σ over distinct|windows/s|Tests " "$out/log.txt"
