#!/usr/bin/env bash
# Submits examples/slurm/*.sbatch to the Slurm of scripts/cluster.sh (slurmctld, a
# slurmd per host) and checks each job's output: every job runs on 3 hosts, 2 ranks
# each, started by srun --mpi=pmix, and its result is right.
#   slurm_jobs.sh CLUSTER_SH SOURCE_DIR BUILD_DIR       (exit 77: no cluster or no Slurm)
set -euo pipefail
cluster="$1" src="$2" build="$3"
setup=$(bash "$cluster" slurm-up) || exit $?
eval "$setup"
trap 'bash "$cluster" slurm-down' EXIT
out="$build/slurm"
mkdir -p "$out"
# The hosts share this machine's cores (see cluster.sh run): ranks yield when idle.
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_btl_tcp_if_include=10.77.0.0/24
export LAGOON_BUILD="$build"
failed=0
check() {  # check NAME ARGS PATTERN...
  local name="$1" args="$2"
  shift 2
  rm -f "$out/$name".*.out
  echo "== sbatch examples/slurm/$name.sbatch on 3 hosts, 2 ranks each"
  local rc=0
  LAGOON_ARGS="$args" sbatch --wait --nodes=3 --ntasks-per-node=2 --time=5 --chdir="$src" \
    --output="$out/$name.%j.out" "$src/examples/slurm/$name.sbatch" || rc=$?
  cat "$out/$name".*.out
  [ "$rc" -eq 0 ] || { echo "FAILED: $name: sbatch --wait returned $rc"; failed=1; return; }
  for pattern in "$@"; do
    grep -Eq "$pattern" "$out/$name".*.out || { echo "FAILED: $name: no line matches '$pattern'"; failed=1; }
  done
}
check sum_big_array "--gb 0.05 --repeat 2" "6 ranks on 3 node\(s\)" "expected [0-9.]+: OK"
check tasks_uneven "--gb 0.05 --tasks 200" "expected [0-9.]+[^:]*: OK"
[ "$failed" -eq 0 ] && echo "slurm jobs: all passed"
exit "$failed"
