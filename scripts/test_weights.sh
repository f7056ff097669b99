#!/usr/bin/env bash
# Measures what each test file costs on an empty shader cache, for scripts/test.sh's split of the
# files over processes: runs each file alone (scripts/test_env.sh's settings, as test.sh) with a fresh
# MESA_SHADER_CACHE_DIR and records the CPU seconds (user + sys) of its process, which a busy
# machine skews far less than wall time. Writes "seconds file" lines, largest first, to
# scripts/test_weights.txt; with a pattern only the matching files are measured again and the other
# lines are kept. Files that no longer exist are dropped.
# Usage: scripts/test_weights.sh [file-pattern]   (all files: about 15 min on 2 cores)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/test_env.sh  # as scripts/test.sh
pattern="${1:-\.test\.ts$}"
out=scripts/test_weights.txt
new=$(mktemp)
[ -f "$out" ] && cp "$out" "$new"
mapfile -t files < <(cd test && find . -name '*.test.ts' -not -path './browser/*' -not -path './fixtures/*' | sed 's|^\./||' | grep -E "$pattern" | sort)
for f in "${files[@]}"; do
  cache=$(mktemp -d) t=$(mktemp)
  MESA_SHADER_CACHE_DIR=$cache FORCE_COLOR=0 /usr/bin/time -o "$t" -f '%U %S' \
    node_modules/.bin/uvu test "^$(printf '%s' "$f" | sed 's/[.]/\\./g')$" -i '^(browser|fixtures)$' >/dev/null 2>&1 \
    || echo "test_weights: $f failed (its time is recorded all the same)" >&2
  s=$(awk 'END{printf "%.0f", $1 + $2}' "$t")
  rm -rf "$cache" "$t"
  grep -v " $f\$" "$new" > "$new.tmp"; echo "$s $f" >> "$new.tmp"; mv "$new.tmp" "$new"
  echo "$s $f"
done
while read -r s f; do [ -f "test/$f" ] && echo "$s $f"; done < "$new" | sort -k1,1rn -k2 > "$out"
rm -f "$new"
