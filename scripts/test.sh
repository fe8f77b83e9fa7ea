#!/usr/bin/env bash
# Sets up lagoon and runs its tests (CTest).
#   bash scripts/test.sh [ctest arguments]   the default suite: every test but the long
#                                            labels (cluster, faults, soak, fuzz), two at a time
#                                            (LAGOON_TEST_JOBS); ~9 minutes on 2 cores
#   bash scripts/test.sh --long              the long checks: ASan+UBSan and TSan builds and
#                                            their runs, then the suite across 2 and 3 hosts in
#                                            network namespaces, Slurm on them, the fault table,
#                                            the soak and the 60 s fuzz runs (label
#                                            cluster|faults|soak|fuzz, as root)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
long=0
if [ "${1:-}" = "--long" ]; then
  long=1
  shift
fi
bash "$here/setup.sh"
cd "$here/../build"
if [ "$long" -eq 0 ]; then
  ctest --output-on-failure -j "${LAGOON_TEST_JOBS:-2}" -LE "cluster|faults|soak|fuzz" "$@"
  exit
fi
status=0
bash "$here/sanitize.sh" address || status=1
bash "$here/sanitize.sh" thread || status=1
cd "$here/../build"
ctest --output-on-failure -L "cluster|faults|soak|fuzz" "$@" || status=1
exit "$status"
