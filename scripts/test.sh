#!/usr/bin/env bash
# Sets up lagoon and runs the whole test suite (CTest: 126 tests, 7–9 minutes on 2 cores once built).
#   bash scripts/test.sh [extra ctest arguments]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
cd "$here/../build"
ctest --output-on-failure "$@"
