#!/usr/bin/env bash
# Runs the test suites on the WebGPU adapter Dawn finds (THAW_ADAPTER=lavapipe|swiftshader to pick one),
# then the browser suite when Chromium is installed, and prints one summary line "N passed, N failed".
# Each test file runs in its own process (its own GPU device), THAW_TEST_JOBS at a time (default: the
# number of cores, at most 4), largest files first: on a cold shader cache most of the time is the driver
# compiling pipelines, one at a time per process. A file's output is printed when it ends.
# Usage: scripts/test.sh [file-pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
pattern="${1:-\.test\.ts$}"
jobs="${THAW_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}"
[ "$jobs" -gt 4 ] && jobs=4
mapfile -t files < <(cd test && find . -name '*.test.ts' -not -path './browser/*' -not -path './fixtures/*' -printf '%s %P\n' \
  | grep -E " .*${pattern}" | sort -rn | cut -d' ' -f2-)
logs=$(mktemp -d)
run_file() {  # runs one test file into its log, then prints the log in one piece
  local log="$2/$(printf '%s' "$1" | tr '/' '_').log"
  FORCE_COLOR=0 node_modules/.bin/uvu test "^$(printf '%s' "$1" | sed 's/[.]/\\./g')$" -i browser -i fixtures >"$log" 2>&1
  local rc=$?
  flock "$2" cat "$log"
  return $rc
}
export -f run_file
rc=0
printf '%s\n' "${files[@]}" | xargs -r -d '\n' -P "$jobs" -I{} bash -c 'run_file "$1" "$2"' _ {} "$logs" || rc=1
log=$(mktemp)
for f in "${files[@]}"; do
  l="$logs/$(printf '%s' "$f" | tr '/' '_').log"
  cat "$l" >>"$log"
  # uvu prints its Total only when the run completes; a crash mid-file must not pass as green.
  if ! sed 's/\x1b\[[0-9;]*m//g' "$l" | grep -q 'Total:'; then echo "test.sh: $f stopped before its summary (crash?)"; crashed=1; fi
done
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
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
