#!/usr/bin/env bash
# Runs the test suites on the WebGPU adapter Dawn finds (THAW_ADAPTER=lavapipe|swiftshader to pick one),
# then the browser suite when Chromium is installed, and prints one summary line "N passed, N failed".
# Usage: scripts/test.sh [file-pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
pattern="${1:-\.test\.ts$}"
log=$(mktemp)
FORCE_COLOR=0 node_modules/.bin/uvu test "$pattern" -i browser -i fixtures 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
clean() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
total=$(clean "$log" | awk '/Total:/{s+=$2} END{print s+0}')
passed=$(clean "$log" | awk '/Passed:/{s+=$2} END{print s+0}')
skipped=$(clean "$log" | awk '/Skipped:/{s+=$2} END{print s+0}')
failed=$((total - passed))
# uvu prints its Total only when the run completes; a crash mid-suite must not pass as green.
if ! clean "$log" | grep -q 'Total:'; then echo "test.sh: the test runner stopped before its summary (crash?)"; failed=$((failed + 1)); rc=1; fi
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
