#!/usr/bin/env bash
# Builds lagoon's tests with sanitizers and runs the MPI tests under them.
#   scripts/sanitize.sh address   ASan + UBSan (build-asan/): every MPI test but the long
#                                 ones (CTest label mpi), leaks checked with
#                                 tests/sanitize/lsan.supp (Open MPI's own allocations)
#   scripts/sanitize.sh thread    TSan (build-tsan/): the transport, store, map and task tests,
#                                 on one node and on virtual nodes over TCP, with
#                                 tests/sanitize/tsan.supp (Open MPI's internals only)
# Any report fails the test (halt_on_error / exitcode). Extra arguments go to ctest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kind="${1:-address}"
shift || true
case "$kind" in
  address)
    dir="$here/build-asan"
    flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"
    targets=()
    select=(-L mpi -LE "cluster|faults|soak|slow")
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=66:detect_stack_use_after_return=0"
    export LSAN_OPTIONS="suppressions=$here/tests/sanitize/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    ;;
  thread)
    dir="$here/build-tsan"
    flags="-fsanitize=thread -fno-omit-frame-pointer -O1 -g"
    targets=(--target test_transport test_object_store test_shared_map test_tasks)
    select=(-R "^test_(transport|object_store|shared_map|tasks)\.(1|2|3|4x2tcp|3x1tcp)$")
    export TSAN_OPTIONS="suppressions=$here/tests/sanitize/tsan.supp:halt_on_error=1:exitcode=66:second_deadlock_stack=1"
    ;;
  *) echo "usage: scripts/sanitize.sh address|thread [ctest arguments]" >&2; exit 2 ;;
esac
bash "$here/scripts/setup.sh" >/dev/null  # the packages (and the plain build)
cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="${flags%% -O1*}" -DLAGOON_BUILD_BENCHMARKS=OFF -DLAGOON_BUILD_EXAMPLES=OFF \
  -DLAGOON_CLANGXX=LAGOON_CLANGXX-NOTFOUND >/dev/null
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
# The tests' ranks run on this host and inherit mpirun's environment (the options above).
cd "$dir"
ctest --output-on-failure "${select[@]}" "$@"
