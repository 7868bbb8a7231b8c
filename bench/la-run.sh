#!/usr/bin/env bash
# One LA configuration trained and evaluated in full on the lent GPU machine (preset la: 6 000 iterations, the last
# checkpoint, sliding window 18/18/4 over the 20 test cases), with the data staged across back-to-back calls.
# A run's folder is runs/la/<method>-<N>l; LA_RUN_NAME names another (a second seed, an ablation), e.g.
#   LA_RUN_NAME=dbisl-8l-k500 bash bench/la-run.sh train dbisl 8 COMMIT --k 500
#
#   here:    bash bench/la-run.sh prepare [LA_ROOT]     pack LA losslessly, compress, split into carry-sized folders
#                                                        .stage1 … (ignored) and print the device calls to make
#   device:  bash bench/la-run.sh stage                 move the parts carried by this call into the stage folder
#   device:  bash bench/la-run.sh train METHOD LABELED COMMIT [train.ts options]
#                                                        unpack and check the data once, train (resuming), evaluate,
#                                                        and put the results into $OUT; stops cleanly with a
#                                                        checkpoint before the call's limit: call it again to go on
#                                                        (before the first step: the fused kernels against their
#                                                        cpu oracle on the adapter, LA_PRECHECK=0 to skip)
#   here:    bash bench/la-run.sh check                 the whole chain on a tiny configuration on this CPU
#
# Why a pack: the HDF5 files are 223 MiB and a call carries 64 MiB, .gpu included (about 48 MiB). The pack stores
# each image as its few hundred distinct float32 values plus delta-coded indices (src/imaging/io/la-pack.ts, checked
# bit for bit against HDF5 when written and by SHA-256 when read); xz then brings all 100 cases to 128.4 MiB,
# three calls instead of five. The README's "A full LA run on the GPU machine" has the time budget.
set -euo pipefail
cd "$(dirname "$0")/.."

CARRY_LIMIT=$((64 * 1024 * 1024))
S=${LA_STAGE:-.stage}           # where prepare works here: $S/ and the part folders ${S}1, ${S}2, …
# outside the working tree, in the machine's temporary folder (kept while a warm machine waits for the next call)
STAGE_DIR=${TMPDIR:-/tmp}/la-stage
DATA_DIR=${TMPDIR:-/tmp}/la-pack-data

die() { echo "la-run: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
size_of() { du -sb "$1" 2>/dev/null | cut -f1; }

# slim_gpu_modules: ../shared/gpu/pack packs every installed package; re-pack .gpu/node_modules.tar.xz with only
# what the runs there need (bench/gpu-modules.ts: the runtime dependencies, tsx, vitest, fast-check), leaving out the
# browser test's and the mutation tester's packages, so that the first call has room for LA data. The marker
# .gpu/node_modules.slim is newer than an archive already slimmed (pack writes a new one after it). xz -9e (about a
# minute more than -6) keeps the LA pack in three calls: it saves 0.9 MiB, and the tree that travels grows.
# h5wasm's browser builds stay here (the LA reader imports 'h5wasm/node').
slim_gpu_modules() {
  local archive=.gpu/node_modules.tar.xz marker=.gpu/node_modules.slim
  [ -f "$archive" ] || return 0
  [ "$marker" -nt "$archive" ] && return 0
  local modules
  modules=$(node --import tsx bench/gpu-modules.ts) || die "prepare: bench/gpu-modules.ts failed"
  local before
  before=$(size_of "$archive")
  # shellcheck disable=SC2086
  tar -cf - --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
    --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/.cache' \
    --exclude='node_modules/h5wasm/dist/esm' --exclude='node_modules/h5wasm/dist/iife' node_modules/.bin $modules \
    | xz -T0 -9e > "$archive.tmp"
  mv "$archive.tmp" "$archive"
  touch "$marker"
  echo "la-run: .gpu/node_modules.tar.xz $(mib "$before") → $(mib "$(size_of "$archive")") ($(echo "$modules" | wc -l) packages the GPU runs need)"
}

# slim_gpu_node: ../shared/gpu/pack compresses the node binary with plain xz; with the x86 branch filter (BCJ) and
# -9e it is about 1 MiB smaller (24.2 → 23.1 MB for Node 20's), room the LA parts need as the tracked tree grows.
# setup.sh's `xz -dc` reads either; the binary is checked to decompress to the same bytes. The marker .gpu/node.slim
# is newer than a node.xz already re-compressed. One thread: xz's threaded mode splits blocks and compresses worse.
slim_gpu_node() {
  local archive=.gpu/node.xz marker=.gpu/node.slim
  [ -f "$archive" ] || return 0
  [ "$marker" -nt "$archive" ] && return 0
  local before sum
  before=$(size_of "$archive")
  sum=$(xz -dc "$archive" | sha256sum | cut -d' ' -f1)
  xz -dc "$archive" | xz --x86 --lzma2=preset=9e -T1 > "$archive.tmp"
  if [ "$(xz -dc "$archive.tmp" | sha256sum | cut -d' ' -f1)" != "$sum" ]; then
    rm -f "$archive.tmp"
    die "prepare: the re-compressed node binary differs from .gpu/node.xz's"
  fi
  mv "$archive.tmp" "$archive"
  touch "$marker"
  echo "la-run: .gpu/node.xz $(mib "$before") → $(mib "$(size_of "$archive")") (x86 filter, -9e)"
}

# prepare [LA_ROOT]: the pack (reused when complete), its xz stream, and the parts: the first beside .gpu, the rest
# each as large as a call allows. Env: LA_PACK_ARGS (e.g. "--train 3 --test 1"), LA_XZ ("-9" by default),
# LA_PART_BYTES (override the part size, for tests).
prepare() {
  local root=${1:-../shared/data/LA}
  [ -f "$root/train.list" ] || die "prepare: no LA root at '$root' (train.list missing)"
  slim_gpu_modules
  slim_gpu_node
  mkdir -p "$S"
  if [ ! -f "$S/la-pack/complete" ]; then
    rm -rf "$S/la-pack"
    # shellcheck disable=SC2086
    node --import tsx bench/la-pack.ts --data "$root" --out "$S/la-pack" ${LA_PACK_ARGS:-}
    touch "$S/la-pack/complete"
  fi
  if [ ! -s "$S/la-pack.tar.xz" ] || [ "$S/la-pack/complete" -nt "$S/la-pack.tar.xz" ]; then
    echo "la-run: compressing the pack (xz ${LA_XZ:--9}; minutes for all 100 cases)"
    tar -C "$S" -cf - la-pack | xz -T0 ${LA_XZ:--9} > "$S/la-pack.tar.xz.tmp"
    mv "$S/la-pack.tar.xz.tmp" "$S/la-pack.tar.xz"
  fi
  rm -rf "$S"[0-9]*
  local total gpu first rest margin
  total=$(size_of "$S/la-pack.tar.xz")
  # what travels with every call besides the carried folders: the tracked tree and the untracked files git does not
  # ignore, as they are now, and 512 KiB for commits made between prepare and the calls (a README edit)
  margin=$(( $( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 cat | wc -c) + 512 * 1024 ))
  gpu=$(size_of .gpu || echo 0)
  [ "$gpu" -gt 0 ] || echo "la-run: note: no .gpu yet (run ../shared/gpu/pack); the first part assumes 48 MiB for it"
  [ "$gpu" -gt 0 ] || gpu=$((48 * 1024 * 1024))
  rest=${LA_PART_BYTES:-$((CARRY_LIMIT - margin))}
  first=${LA_PART_BYTES:-$((CARRY_LIMIT - margin - gpu))}
  [ "$first" -gt 0 ] || die "prepare: .gpu ($(mib "$gpu")) leaves no room for data in the first call"
  local offset=0 n=1
  while [ "$offset" -lt "$total" ]; do
    local size=$rest
    [ "$n" -eq 1 ] && size=$first
    mkdir -p "$S$n"
    dd if="$S/la-pack.tar.xz" of="$S$n/la.part$(printf %02d "$n")" bs=1M iflag=skip_bytes,count_bytes skip="$offset" count="$size" status=none
    offset=$((offset + size))
    n=$((n + 1))
  done
  local parts=$((n - 1))
  sha256sum "$S/la-pack.tar.xz" | cut -d' ' -f1 > "${S}1/la.sha256"
  echo "$parts" > "${S}1/la.count"
  echo "la-run: the pack is $(mib "$total") compressed, in $parts parts (${S}1 … $S$parts)"
  local commit
  commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo -dirty)
  cat <<PLAN
Device calls, back to back (a machine left idle over 30 s is given back, and the staged parts with it):
  1. carry [".gpu", "${S}1"]   source .gpu/setup.sh && bash bench/la-run.sh stage
PLAN
  for ((i = 2; i < parts; i++)); do echo "  $i. carry [\"$S$i\"]   bash bench/la-run.sh stage"; done
  if [ "$parts" -gt 1 ]; then
    echo "  $parts. carry [\"$S$parts\"]   source .gpu/setup.sh && bash bench/la-run.sh stage && bash bench/la-run.sh train dbisl 8 $commit"
  else
    echo "  then: source .gpu/setup.sh && bash bench/la-run.sh train dbisl 8 $commit"
  fi
  echo "  next (only if it stopped at the call's limit): source .gpu/setup.sh && bash bench/la-run.sh train dbisl 8 $commit"
}

# stage: the parts this call carried (.stageN/la.*) join the ones already in $STAGE_DIR.
stage() {
  mkdir -p "$STAGE_DIR"
  local moved=0
  for f in "$S"[0-9]*/la.*; do
    [ -e "$f" ] || continue
    mv -f "$f" "$STAGE_DIR/"
    moved=$((moved + 1))
  done
  local have expected
  have=$(find "$STAGE_DIR" -name 'la.part*' | wc -l)
  expected=$(cat "$STAGE_DIR/la.count" 2>/dev/null || echo '?')
  echo "la-run: staged $moved files; $have of $expected parts in $STAGE_DIR"
}

# unpack: once all parts are there, check the stream's SHA-256 and unpack it into $DATA_DIR.
unpack() {
  [ -f "$DATA_DIR/la-pack/complete" ] && return 0
  [ -f "$STAGE_DIR/la.count" ] || die "unpack: part 1 was not staged (no $STAGE_DIR/la.count): start again from call 1"
  local expected have
  expected=$(cat "$STAGE_DIR/la.count")
  have=$(find "$STAGE_DIR" -name 'la.part*' | wc -l)
  [ "$have" -eq "$expected" ] || die "unpack: $have of $expected parts staged in $STAGE_DIR (a warm machine keeps them 30 s: restage the missing ones)"
  local sum
  sum=$(cat "$STAGE_DIR"/la.part* | sha256sum | cut -d' ' -f1)
  [ "$sum" = "$(cat "$STAGE_DIR/la.sha256")" ] || die "unpack: the staged parts do not add up to the prepared stream (SHA-256 differs)"
  rm -rf "$DATA_DIR" && mkdir -p "$DATA_DIR"
  cat "$STAGE_DIR"/la.part* | xz -dc | tar -xf - -C "$DATA_DIR"
  [ -f "$DATA_DIR/la-pack/complete" ] || die "unpack: the stream holds no complete pack"
  echo "la-run: unpacked $(find "$DATA_DIR/la-pack/cases" -name '*.vxla' | wc -l) cases into $DATA_DIR/la-pack"
}

# precheck: before a run's first step, the kernels that have not run on a GPU yet and that the run uses (the fused
# T_s2r, the dualtask maps and losses of the DBiSL step, the multi-tensor SGD step whose wider variants compile only
# on an adapter with more storage bindings than llvmpipe's, the conv epilogue of the evaluation, the readback that
# carries the device-side error word) against their cpu oracle on this adapter
# (under a minute), so that one this GPU's shader compiler treats differently
# stops the call here rather than after minutes of training. Only the oracle comparisons, which have tolerances: the
# tests that the fused T_s2r gives the composed ops' floats bit for bit (test/dbisl/transform.test.ts) may differ in a
# last bit on a GPU whose compiler contracts a multiply and an add, which is no error (gpu-run.sh runs them).
# LA_PRECHECK=0 leaves it out.
precheck() {
  [ "${LA_PRECHECK:-1}" = 0 ] && return 0
  echo "la-run: precheck: the fused kernels of the DBiSL step and of the evaluation against the cpu oracle on this adapter"
  # of the optimizer tests only SGD's (what the run steps with): Adam's device-side bias corrections have their
  # own tolerances on a GPU's exp, which the LA run does not use
  { node_modules/.bin/vitest run test/kernels/cdt.test.ts test/kernels/loss.test.ts test/kernels/dualtask.test.ts \
      test/kernels/conv3d-epilogue.test.ts test/kernels/device-assert.test.ts \
    && node_modules/.bin/vitest run test/kernels/optim.test.ts -t 'SGD|sgdSteps'; } \
    || die "precheck: a fused kernel disagrees with its cpu oracle on this adapter (see above); not training"
}

# train METHOD LABELED COMMIT [options]: trains with --resume under a deadline (540 s from the script's start: the
# call's 600 s less the time to collect; LA_RUN_SECONDS sets the training's own), then collects. Env: LA_WORKERS (data workers, default: cores − 2).
# Every 1 000 iterations the first 4 test cases are evaluated (a few seconds each time): the Dice over training in
# dice.svg and report.md, evidence for a run that falls short; the last evaluation takes all 20 cases.
train() {
  [ $# -ge 3 ] || die "usage: bash bench/la-run.sh train METHOD LABELED COMMIT [train.ts options]"
  local method=$1 labeled=$2 commit=$3
  shift 3
  unpack
  local name=${LA_RUN_NAME:-$method-${labeled}l}
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "train: LA_RUN_NAME '$name' is not a plain folder name"
  local out="runs/la/$name"
  local workers=${LA_WORKERS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}
  local cmd=(node --import tsx src/dbisl/train.ts --preset la --data "$DATA_DIR/la-pack" --method "$method" --labeled "$labeled"
    --out "$out" --resume --workers "$workers" --eval-every 1000 --eval-cases 4 "$@")
  [ -f "$out/checkpoint.safetensors" ] || precheck
  mkdir -p "$out"
  echo "${cmd[*]}" > "$out/command.txt"
  echo "$commit" > "$out/commit.txt"
  echo "la-run: ${cmd[*]}"
  local rc=0
  # no npx/tsx wrapper: the trainer gets the SIGINT itself and writes its checkpoint before exiting
  # the deadline counts from this script's start ($SECONDS), so that unpacking and the precheck come out of it
  local seconds=${LA_RUN_SECONDS:-$((540 - SECONDS))}
  [ "$seconds" -ge 60 ] || die "train: ${seconds} s left of this call's 540 after unpacking and the precheck; call again"
  timeout -s INT -k 30 "$seconds" "${cmd[@]}" 2>&1 | tee -a "$out/train.log" || rc=${PIPESTATUS[0]}
  collect "$out" "$name"
  case $rc in
    0) echo "la-run: done; results in \$OUT/la-$name.tgz" ;;
    124|130) echo "la-run: stopped at the deadline with a checkpoint; run the same train command again to go on"; return 0 ;;
    *) die "train.ts exited with $rc (see $out/train.log)" ;;
  esac
}

# collect OUT_DIR NAME: everything of the run but the checkpoint (its SHA-256 instead) and report.html (up to 25 MB
# of embedded volumes; a file that comes back is at most 16 MiB) as one archive in $OUT, and the summary beside it.
collect() {
  local dir=$1 name=$2
  [ -n "${OUT:-}" ] || { echo "la-run: no \$OUT (not on the device machine): results stay in $dir"; return 0; }
  [ -f "$dir/checkpoint.safetensors" ] && (cd "$dir" && sha256sum checkpoint.safetensors > checkpoint.sha256)
  tar -C "$dir" --exclude=checkpoint.safetensors --exclude=report.html --exclude='*.tmp' --exclude=train.lock -czf "$OUT/la-$name.tgz" .
  [ -f "$dir/summary.json" ] && cp "$dir/summary.json" "$OUT/summary-$name.json"
  return 0
}

# check: prepare → stage (several parts) → train → collect, on 3 + 1 cases and a tiny network, into a temporary $OUT.
check() {
  local root=${1:-../shared/data/LA}
  local tmp
  tmp=$(mktemp -d)
  S=.stagecheck
  rm -rf "$S" "$STAGE_DIR" "$DATA_DIR" runs/la/dbisl-4l
  LA_PACK_ARGS="--train 6 --test 1" LA_XZ=-1 LA_PART_BYTES=$((3 * 1024 * 1024)) prepare "$root"
  stage
  OUT=$tmp train dbisl 4 "$(git rev-parse --short HEAD)" --backend "${LA_CHECK_BACKEND:-cpu}" --iters 3 --patch 32,32,16 \
    --n-filters 2 --stride 32,32,16 --eval-batch 8 --checkpoint-every 2 --eval-every 2 --no-figures
  # the listing first: under pipefail, grep -q leaving at the first match can kill tar by SIGPIPE (exit 141)
  local listing
  listing=$(tar -tzf "$tmp/la-dbisl-4l.tgz")
  grep -q '^\./summary\.json$' <<<"$listing" || die "check: no summary.json in the collected archive"
  echo "la-run: check passed; collected: $(ls "$tmp" | tr '\n' ' ')"
  rm -rf "$tmp" "$S" "$S"[0-9]* "$STAGE_DIR" "$DATA_DIR"
}

case ${1:-} in
  prepare|stage|train|check) cmd=$1; shift; "$cmd" "$@" ;;
  -h|--help|help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: bash bench/la-run.sh prepare [LA_ROOT] | stage | train METHOD LABELED COMMIT [options] | check [LA_ROOT]  (--help)" >&2; exit 2 ;;
esac
