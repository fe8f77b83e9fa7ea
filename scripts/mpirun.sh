#!/usr/bin/env bash
# mpirun with the flags this machine needs: --oversubscribe always, and
# --allow-run-as-root when run as root. Usage: scripts/mpirun.sh -np 4 prog args
set -euo pipefail
flags=(--oversubscribe)
[ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
# Forward lagoon's settings to every rank (mpirun passes only OMPI_* on by itself).
for name in $(compgen -e | grep '^LAGOON_' || true); do flags+=(-x "$name"); done
exec mpirun "${flags[@]}" "$@"
