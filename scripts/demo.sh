#!/usr/bin/env bash
# Sets up lagoon and runs the big-array demo on every core of this machine:
#   bash scripts/demo.sh [--gb 1.5] [--repeat 5]       (LAGOON_RANKS=n to choose the rank count)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
source "$here/huge_pages.sh"
trap lagoon_huge_pages_release EXIT
ranks="${LAGOON_RANKS:-$(nproc)}"
echo "lagoon: mpirun -np $ranks build/examples/sum_big_array $*"
bash "$here/mpirun.sh" -np "$ranks" "$here/../build/examples/sum_big_array" "$@"
