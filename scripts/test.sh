#!/usr/bin/env bash
# Runs vitest and repeats its closing "N passed, N failed" line as the very last line of
# output (vitest's own summary would otherwise follow it). Exit status is vitest's.
set -uo pipefail
log=$(mktemp)
node_modules/.bin/vitest run "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
rm -f "$log"
echo
echo "${line:-0 passed, 1 failed}"
exit "$status"
