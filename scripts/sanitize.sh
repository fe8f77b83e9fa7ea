#!/usr/bin/env bash
# Builds lagoon's tests with sanitizers and runs the MPI tests under them.
#   scripts/sanitize.sh address   ASan + UBSan (build-asan/): the unit tests with leak
#                                 checking, then every MPI test (CTest label mpi) without it:
#                                 Open MPI unloads its components at MPI_Finalize, so what
#                                 they keep until exit is reported from "<unknown module>"
#                                 and cannot be told from a leak of lagoon's (the soak
#                                 checks lagoon's memory instead: RSS, PSS and arenas)
#   scripts/sanitize.sh thread    TSan (build-tsan/): the transport, store (spilling too), map and task tests,
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
    select=(-L mpi -LE "cluster|faults|soak")
    # The sanitizers' shadow memory and ASan's quarantine count in the processes' PSS:
    # the tests that measure a node's PSS are left to the plain build.
    export GTEST_FILTER="-ObjectStoreTest.TheNodeHoldsOneCopyNotOnePerRank:ObjectStoreTest.AnAdoptedArrayIsAnObjectWithNoCopyAndNoFetch"
    export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:exitcode=66"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    ;;
  thread)
    dir="$here/build-tsan"
    flags="-fsanitize=thread -fno-omit-frame-pointer -O1 -g"
    targets=(--target test_transport test_object_store test_store_spill test_shared_map test_tasks)
    select=(-R "^test_(transport|object_store|store_spill|shared_map|tasks)\.(1|2|3|4x2tcp|3x1tcp)$")
    # TSan's shadow memory counts in every mapping's PSS: the tests that measure a
    # node's PSS are not tests of threads, and are left to the plain build.
    export GTEST_FILTER="-ObjectStoreTest.TheNodeHoldsOneCopyNotOnePerRank:ObjectStoreTest.AnAdoptedArrayIsAnObjectWithNoCopyAndNoFetch"
    export TSAN_OPTIONS="suppressions=$here/tests/sanitize/tsan.supp:ignore_noninstrumented_modules=1:halt_on_error=1:exitcode=66:second_deadlock_stack=1"
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
if [ "$kind" = address ]; then
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=66" ctest --output-on-failure -R '^unit_tests$'
fi
ctest --output-on-failure "${select[@]}" "$@"
