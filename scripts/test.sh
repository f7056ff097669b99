#!/usr/bin/env bash
# Runs the test suites on the WebGPU adapter Dawn finds (THAW_ADAPTER=lavapipe|swiftshader to pick one),
# and the browser suite beside them when Chromium is installed, and prints one summary line "N passed, N failed".
# The test files run in THAW_TEST_JOBS processes (default: the number of cores, at most 4), each with
# its own GPU device: on a cold shader cache most of the time is the driver compiling pipelines, one
# at a time per process. Each process takes the next file from a shared queue, heaviest first by the
# CPU seconds each file took alone on an empty shader cache (scripts/test_weights.txt, written by
# scripts/test_weights.sh; a file not listed counts as 20 s). Each process's output is printed as a
# block when it ends.
# The op and model suites (test/ops, test/nn, test/models, test/transformer) also run with
# THAW_TUNING=hardware, from a second queue that each process goes on to when the first is empty:
# the kernel paths a real GPU takes (engine/core/tuning.ts: tiled matmul, no subgroup conv kernels,
# no Winograd, fused attention), on the software adapter; their counts join the summary.
# THAW_TEST_HARDWARE=0 skips that pass. Files whose kernels read no tuning (or the same values in
# both tables) are left out of it: see HW_SKIP. lavapipe runs at 4 lanes, and the subgroup kernels'
# files run once more at 8: see WIDE.
# Usage: scripts/test.sh [file-pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/test_env.sh
# The files of the subgroup kernels (matmul, conv gemm and weight gradient), run once more at 8 lanes
# for their subgroup kernels' cases only (THAW_TEST_SUBGROUP=only: test/helpers.ts laneTests).
WIDE='^ops/(matmul|conv2d)\.test\.ts$'
pattern="${1:-\.test\.ts$}"
jobs="${THAW_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}"
[ "$jobs" -gt 4 ] && jobs=4
# Cold CPU seconds per test file (scripts/test_weights.txt: "seconds file" lines).
declare -A weight=()
[ -f scripts/test_weights.txt ] && while read -r s f; do weight[$f]=$s; done < scripts/test_weights.txt
# queue DIR FILE...: one entry per file in DIR (see scripts/test_worker.mjs), heaviest first; entries
# are numbered across all queues, so the same file in two queues has two names in the claimed folder.
queued=0
queue() {
  local d=$1 f; shift
  while read -r _ f; do
    queued=$((queued + 1)); : > "$d/$(printf '%04d' "$queued") ${f//\//%}"
  done < <(for f in "$@"; do echo "${weight[$f]:-20} $f"; done | sort -k1,1rn -k2)
}
# Test files (under test/) matching the pattern.
list() { (cd test && find "$@" -name '*.test.ts' -not -path './browser/*' -not -path './fixtures/*' | sed 's|^\./||' | grep -E "$pattern"); }
mapfile -t files < <(list .)
# The op and model suites run a second time with THAW_TUNING=hardware. That pass leaves out the files
# whose kernels read no tuning, or read the same values in both tables (reductions, depthwise, batch
# norm), or that run the hardware table's kernels themselves (conv2d_tunings: every gemm and pointwise
# case also without subgroups; f16_conv: its kernel-path cases name the default table's kernels and it
# runs the no-subgroup ones itself): they would run the first pass's kernels again. It also leaves
# out two files whose models another file checks against torch in both passes, logits and every
# gradient in training mode and frozen: transformer/finetune (a BERT trained to convergence, 100-500
# steps; transformer/bert) and models/keras_real (the real darknet-tiny and nsfwjs checkpoints at
# 224 px; models/gradients runs both topologies at 64 px).
HW_SKIP='^ops/(conv2d_tunings|f16_conv|reduce|depthwise|batchnorm|elementwise|activation|gather|pad|permute|slice|resize|dropout|pool|softmax)\.test\.ts$|^models/keras_real\.test\.ts$|^transformer/(wordpiece|gelu|layernorm|finetune)\.test\.ts$'
hw=()
[ "${THAW_TEST_HARDWARE:-1}" != 0 ] && mapfile -t hw < <(list ops nn models transformer | grep -Ev "$HW_SKIP")
wide=()
[ "$LP_NATIVE_VECTOR_WIDTH" != 256 ] && mapfile -t wide < <(printf '%s\n' "${files[@]}" | grep -E "$WIDE")
# $jobs worker processes (scripts/test_worker.mjs) take the files one at a time from a shared queue,
# so they finish close together whatever a file costs on this machine; a worker that finds a queue
# empty goes on with the next one in a new process: the 8-lane files, then the first pass, then the
# hardware pass. Each worker's output is printed as a block when it ends.
rc=0
# The browser suite (Chromium on SwiftShader, about 1.6 cores of its own) runs beside the Node
# processes, from the start: the cores stay busy to the end; its output is printed after theirs.
if [ -z "${1:-}" ] && [ -f test/browser/run.ts ] && [ "${THAW_SKIP_BROWSER:-0}" != 1 ]; then
  blog=$(mktemp)
  node test/browser/run.ts >"$blog" 2>&1 &
  bpid=$!
fi
lanes8=$(mktemp -d) first=$(mktemp -d) second=$(mktemp -d) claimed=$(mktemp -d)
[ "${#wide[@]}" -gt 0 ] && queue "$lanes8" "${wide[@]}"
queue "$first" "${files[@]}"
[ "${#hw[@]}" -gt 0 ] && queue "$second" "${hw[@]}"
n=$(( ${#files[@]} + ${#hw[@]} )); [ "$n" -gt "$jobs" ] && n=$jobs
pids=() logs=()
for ((j = 0; j < n; j++)); do
  l=$(mktemp); logs+=("$l")
  ( export FORCE_COLOR=0; r=0
    if [ "${#wide[@]}" -gt 0 ]; then
      echo "== LP_NATIVE_VECTOR_WIDTH=256"
      LP_NATIVE_VECTOR_WIDTH=256 THAW_TEST_SUBGROUP=only node scripts/test_worker.mjs "$lanes8" "$claimed" || r=1
      echo "== LP_NATIVE_VECTOR_WIDTH=$LP_NATIVE_VECTOR_WIDTH"
    fi
    node scripts/test_worker.mjs "$first" "$claimed" || r=1
    if [ "${#hw[@]}" -gt 0 ]; then
      echo "== THAW_TUNING=hardware"
      THAW_TUNING=hardware node scripts/test_worker.mjs "$second" "$claimed" || r=1
    fi
    exit $r ) >"$l" 2>&1 &
  pids+=($!)
done
log=$(mktemp)
for ((j = 0; j < n; j++)); do
  wait "${pids[$j]}" || rc=1
  cat "${logs[$j]}" | tee -a "$log"
done
# A file still claimed (its process stopped mid-file) or never taken must not pass as green.
left=$(ls "$claimed" "$lanes8" "$first" "$second" | grep ' ' | sed 's/^[0-9]* //; s|%|/|g')
if [ -n "$left" ]; then echo "test.sh: did not finish (a test process stopped: crash?): $left" | tee -a "$log"; crashed=1; fi
clean() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
total=$(clean "$log" | awk '/Total:/{s+=$2} END{print s+0}')
passed=$(clean "$log" | awk '/Passed:/{s+=$2} END{print s+0}')
skipped=$(clean "$log" | awk '/Skipped:/{s+=$2} END{print s+0}')
failed=$((total - passed))
if [ "${crashed:-0}" = 1 ]; then failed=$((failed + 1)); rc=1; fi
if [ -n "${bpid:-}" ]; then
  wait "$bpid"
  brc=$?
  cat "$blog"
  bp=$(clean "$blog" | awk '/^browser: [0-9]+ passed/{print $2}' | tail -1)
  bf=$(clean "$blog" | awk '/^browser: [0-9]+ passed/{print $4}' | tail -1)
  passed=$((passed + ${bp:-0})); failed=$((failed + ${bf:-0}))
  if [ "$brc" != 0 ] && [ "${bf:-0}" = 0 ]; then failed=$((failed + 1)); fi
  [ "$brc" != 0 ] && rc=1
fi
[ "$rc" != 0 ] && [ "$failed" = 0 ] && failed=1
# The failed tests' names again, last, so a log's tail names them.
fails=$( (clean "$log" | grep -A3 ' FAIL ' | grep -v '^--$'; [ -n "${blog:-}" ] && clean "$blog" | grep '^  ✗ ') | sed 's/^ */  /')
[ -n "$fails" ] && printf 'failed tests:\n%s\n' "$fails"
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
