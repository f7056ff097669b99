#!/usr/bin/env bash
# Runs the test suites on the WebGPU adapter Dawn finds (THAW_ADAPTER=lavapipe|swiftshader to pick one),
# then the browser suite when Chromium is installed, and prints one summary line "N passed, N failed".
# The test files are split over THAW_TEST_JOBS processes (default: the number of cores, at most 4), each
# with its own GPU device: on a cold shader cache most of the time is the driver compiling pipelines,
# one at a time per process. Each process's output is printed as a block when it ends.
# Usage: scripts/test.sh [file-pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Each cached kernel's code is rebuilt at every use and compared, so a pipeline key that misses a value fails a test.
export THAW_CHECK_KERNELS=1
pattern="${1:-\.test\.ts$}"
jobs="${THAW_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}"
[ "$jobs" -gt 4 ] && jobs=4
# Largest files first, dealt out in snake order so the processes get similar shares.
mapfile -t files < <(cd test && find . -name '*.test.ts' -not -path './browser/*' -not -path './fixtures/*' -printf '%s %P\n' \
  | grep -E " .*${pattern}" | sort -rn | cut -d' ' -f2-)
[ "${#files[@]}" -lt "$jobs" ] && jobs=${#files[@]}
[ "$jobs" -lt 1 ] && jobs=1
declare -a shard
for i in "${!files[@]}"; do
  r=$(( i % (2 * jobs) )); j=$(( r < jobs ? r : 2 * jobs - 1 - r ))
  shard[$j]="${shard[$j]:-}${shard[$j]:+|}$(printf '%s' "${files[$i]}" | sed 's/[.]/\\./g')"
done
log=$(mktemp)
pids=(); logs=()
for ((j = 0; j < jobs; j++)); do
  l=$(mktemp); logs+=("$l")
  FORCE_COLOR=0 node_modules/.bin/uvu test "^(${shard[$j]:-no-such-file})$" -i browser -i fixtures >"$l" 2>&1 &
  pids+=($!)
done
rc=0
for ((j = 0; j < jobs; j++)); do
  wait "${pids[$j]}" || rc=1
  cat "${logs[$j]}" | tee -a "$log"
  # uvu prints its Total only when the run completes; a crash mid-suite must not pass as green.
  if ! sed 's/\x1b\[[0-9;]*m//g' "${logs[$j]}" | grep -q 'Total:'; then crashed=1; fi
done
clean() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
total=$(clean "$log" | awk '/Total:/{s+=$2} END{print s+0}')
passed=$(clean "$log" | awk '/Passed:/{s+=$2} END{print s+0}')
skipped=$(clean "$log" | awk '/Skipped:/{s+=$2} END{print s+0}')
failed=$((total - passed))
if [ "${crashed:-0}" = 1 ]; then echo "test.sh: a test process stopped before its summary (crash?)"; failed=$((failed + 1)); rc=1; fi
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
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
