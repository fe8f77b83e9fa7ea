#!/usr/bin/env bash
# Fuzzes the deserializer for a bounded time from a fresh seed corpus.
#   bash fuzz/run.sh FUZZ_BUILD_DIR [SECONDS]
# Exit status 0: no crash, no sanitizer report, no leak, no input over the limits.
set -euo pipefail
build="$1"
seconds="${2:-60}"
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
"$build/fuzz_seeds" "$corpus"
cd "$corpus"  # a crashing input is written to the current directory
"$build/fuzz_deserialize" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 \
  -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | grep -v "^#[0-9]*.*\(NEW\|REDUCE\|pulse\)" || status=$?
exit "${status:-0}"
