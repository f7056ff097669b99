#!/usr/bin/env bash
# Runs the test suites on the WebGPU adapter Dawn finds (THAW_ADAPTER=lavapipe|swiftshader to pick one),
# then the browser suite when Chromium is installed, and prints one summary line "N passed, N failed".
# The test files run in THAW_TEST_JOBS processes (default: the number of cores, at most 4), each with
# its own GPU device: on a cold shader cache most of the time is the driver compiling pipelines, one
# at a time per process. Each process takes the next file from a shared queue, heaviest first by the
# CPU seconds each file took alone on an empty shader cache (scripts/test_weights.txt, written by
# scripts/test_weights.sh; a file not listed counts as 20 s). Each process's output is printed as a
# block when it ends.
# Then the op and model suites (test/ops, test/nn, test/models, test/transformer) run again with
# THAW_TUNING=hardware: the kernel paths a real GPU takes (engine/core/tuning.ts: tiled matmul, no
# subgroup conv kernels, no Winograd, fused attention), on the software adapter; their counts join the
# summary. THAW_TEST_HARDWARE=0 skips that pass. Files whose kernels read no tuning (or the same
# values in both tables) are left out of it: see HW_SKIP.
# Usage: scripts/test.sh [file-pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Each cached kernel's code is rebuilt at every use and compared, so a pipeline key that misses a value fails a test.
export THAW_CHECK_KERNELS=1
# lavapipe compiles shaders without LLVM's optimisation passes: the tests' kernels are small, and on an
# empty shader cache most of the suite's time is that compilation. Benchmarks never set it.
export GALLIVM_PERF="${GALLIVM_PERF-nopt}"
pattern="${1:-\.test\.ts$}"
jobs="${THAW_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}"
[ "$jobs" -gt 4 ] && jobs=4
log=$(mktemp)
# Cold CPU seconds per test file (scripts/test_weights.txt: "seconds file" lines).
declare -A weight=()
[ -f scripts/test_weights.txt ] && while read -r s f; do weight[$f]=$s; done < scripts/test_weights.txt
# run_pass LABEL FILE...: the files over $jobs worker processes (scripts/test_worker.mjs), which take
# them one at a time from a shared queue, heaviest first, so the processes finish close together
# whatever a file costs on this machine; each process's output is appended to $log as a block.
run_pass() {
  local label=$1; shift
  local n=$jobs j i=0 f q c left
  [ "$#" -lt "$n" ] && n=$#
  [ "$n" -lt 1 ] && return
  local -a pids=() logs=()
  q=$(mktemp -d); c=$(mktemp -d)
  while read -r _ f; do
    i=$((i + 1)); : > "$q/$(printf '%04d' "$i") ${f//\//%}"
  done < <(for f in "$@"; do echo "${weight[$f]:-20} $f"; done | sort -k1,1rn -k2)
  for ((j = 0; j < n; j++)); do
    local l; l=$(mktemp); logs+=("$l")
    FORCE_COLOR=0 node scripts/test_worker.mjs "$q" "$c" >"$l" 2>&1 &
    pids+=($!)
  done
  for ((j = 0; j < n; j++)); do
    wait "${pids[$j]}" || rc=1
    [ -n "$label" ] && echo "== $label"
    cat "${logs[$j]}" | tee -a "$log"
  done
  # A file still claimed (its process stopped mid-file) or never taken must not pass as green.
  left=$(ls "$c" "$q" | grep ' ' | sed 's/^[0-9]* //; s|%|/|g')
  if [ -n "$left" ]; then echo "test.sh: did not finish (a test process stopped: crash?): $left" | tee -a "$log"; crashed=1; fi
  rm -rf "$q" "$c"
}
# Test files (under test/) matching the pattern.
list() { (cd test && find "$@" -name '*.test.ts' -not -path './browser/*' -not -path './fixtures/*' | sed 's|^\./||' | grep -E "$pattern"); }
rc=0
mapfile -t files < <(list .)
run_pass "" "${files[@]}"
# The hardware pass leaves out the files whose kernels read no tuning, or read the same values in
# both tables (reductions, depthwise, batch norm), or that run the hardware table's kernels themselves
# (conv2d_tunings: every gemm and pointwise case also without subgroups; f16_conv: its kernel-path
# cases name the default table's kernels and it runs the no-subgroup ones itself): they would run the
# first pass's kernels again.
# Warm, the rest took ~155 s in one process on lavapipe.
HW_SKIP='^ops/(conv2d_tunings|f16_conv|reduce|depthwise|batchnorm|elementwise|activation|gather|pad|permute|slice|resize|dropout|pool|softmax)\.test\.ts$|^transformer/(wordpiece|gelu|layernorm)\.test\.ts$'
if [ "${THAW_TEST_HARDWARE:-1}" != 0 ]; then
  mapfile -t hw < <(list ops nn models transformer | grep -Ev "$HW_SKIP")
  if [ "${#hw[@]}" -gt 0 ]; then
    t0=$(date +%s)
    echo "== THAW_TUNING=hardware: ${hw[*]}"
    THAW_TUNING=hardware run_pass "THAW_TUNING=hardware" "${hw[@]}"
    echo "== THAW_TUNING=hardware pass: $(( $(date +%s) - t0 )) s"
  fi
fi
clean() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
total=$(clean "$log" | awk '/Total:/{s+=$2} END{print s+0}')
passed=$(clean "$log" | awk '/Passed:/{s+=$2} END{print s+0}')
skipped=$(clean "$log" | awk '/Skipped:/{s+=$2} END{print s+0}')
failed=$((total - passed))
if [ "${crashed:-0}" = 1 ]; then failed=$((failed + 1)); rc=1; fi
if [ -z "${1:-}" ] && [ -f test/browser/run.ts ] && [ "${THAW_SKIP_BROWSER:-0}" != 1 ]; then
  blog=$(mktemp)
  node test/browser/run.ts 2>&1 | tee "$blog"
  brc=${PIPESTATUS[0]}
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
