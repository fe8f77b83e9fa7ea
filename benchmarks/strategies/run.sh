#!/usr/bin/env bash
# The strategies table: every way of sharing one float64 array with one worker per
# core, C++ and Python, in one run on this machine; then the Markdown table and the
# PNG chart.
#   bash benchmarks/strategies/run.sh [--gb 1.5] [--repeat 3] [--workers N] [--out results] [--check]
#                                     [--no-chart] [--no-huge]
# Needs build/ (scripts/setup.sh), python3-numpy and python3-mpi4py (and
# python3-matplotlib for the chart).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
gb=1.5 repeat=3 workers="$(nproc)" out="$root/results" check=() chart=1 use_huge=1
while (($#)); do
  case "$1" in
    --gb) gb="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --check) check=(--check); shift ;;
    --no-chart) chart=0; shift ;;
    --no-huge) use_huge=0; shift ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3  # Debian's, with python3-numpy and python3-mpi4py
bench="$root/build/benchmarks/bench_strategies"
mpirun=("$root/scripts/mpirun.sh" -np "$workers")
# Huge pages, where this may mount them (as root): one more row for C++ and Python (a
# file in a huge-page tmpfs) and lagoon's rows again with LAGOON_SHM_DIR there.
huge=()
huge_dir=""
if ((use_huge)); then
  source "$root/scripts/huge_pages.sh"
  trap lagoon_huge_pages_release EXIT
  huge_dir="${LAGOON_SHM_DIR:-}"
  unset LAGOON_SHM_DIR
  [ -n "$huge_dir" ] && huge=(--huge-dir "$huge_dir")
fi
mkdir -p "$out"
results="$out/strategies.jsonl"
: > "$results"
echo "strategies: $gb GB, $workers workers, $repeat repetitions on $(hostname) ($(nproc) cores)"
# Each group prints its JSON lines as it goes; the rest of its output goes to the terminal.
"$bench" --group posix --workers "$workers" --gb "$gb" --repeat "$repeat" "${huge[@]}" | tee -a "$results"
"${mpirun[@]}" "$bench" --group mpi --gb "$gb" --repeat "$repeat" | tee -a "$results"
if [ -n "$huge_dir" ]; then
  LAGOON_SHM_DIR="$huge_dir" "${mpirun[@]}" "$bench" --group mpi --gb "$gb" --repeat "$repeat" --lagoon-only 1 \
    --suffix ", huge pages" | tee -a "$results"
fi
"$python" "$root/benchmarks/strategies/strategies.py" --workers "$workers" --gb "$gb" --repeat "$repeat" \
  "${huge[@]}" | tee -a "$results"
"${mpirun[@]}" "$python" "$root/benchmarks/strategies/strategies.py" --mpi --gb "$gb" --repeat "$repeat" |
  tee -a "$results"
png=()
((chart)) && png=(--png "$out/strategies.png")
"$python" "$root/benchmarks/strategies/report.py" "$results" --md "$out/strategies.md" "${png[@]}" "${check[@]}"
