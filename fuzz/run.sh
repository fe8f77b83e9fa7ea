#!/usr/bin/env bash
# Fuzzes one target for a bounded time from a fresh seed corpus.
#   bash fuzz/run.sh FUZZ_BUILD_DIR [SECONDS] [deserialize|npy_header]
# Exit status 0: no crash, no sanitizer report, no leak, no input over the limits.
set -euo pipefail
build="$(cd "$1" && pwd)"
seconds="${2:-60}"
target="${3:-deserialize}"
case "$target" in
  deserialize) seeds=fuzz_seeds ;;
  npy_header) seeds=fuzz_npy_seeds ;;
  *) echo "fuzz/run.sh: no target $target" >&2; exit 2 ;;
esac
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
"$build/$seeds" "$corpus"
cd "$corpus"  # a crashing input is written to the current directory
"$build/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 \
  -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | grep -v "^#[0-9]*.*\(NEW\|REDUCE\|pulse\)" || status=$?
exit "${status:-0}"
