#!/usr/bin/env bash
# Sets up lagoon and runs the benchmarks side by side, writing the output to
# results/bench-<host>.txt:  bash scripts/bench.sh   (LAGOON_BENCH_BYTES=1.5e9 by default)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The peers (not needed to build or test lagoon): Global Arrays for bench_global,
# Python's pickle through mpi4py for bench_store, matplotlib for the strategies chart.
ga=(libglobalarrays-dev libarmci-mpi-dev libscalapack-openmpi-dev python3-mpi4py python3-matplotlib python3-h5py)
if ! dpkg-query -W -f='${Status}' "${ga[@]}" 2>/dev/null | grep -q "install ok installed"; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${ga[@]}" >/dev/null
fi
bash "$here/setup.sh"
cd "$here/.."
mkdir -p results
out="results/bench-$(hostname).txt"
ranks="${LAGOON_RANKS:-$(nproc)}"
run() { echo; echo "### $*"; bash "$here/mpirun.sh" "$@" --benchmark_color=false; }
{
  echo "lagoon benchmarks on $(hostname): $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(date -u +%F)"
  run -np "$ranks" build/benchmarks/bench_reduce
  echo; echo "### build/benchmarks/bench_limit (no MPI)"; build/benchmarks/bench_limit --benchmark_color=false
  run -np "$ranks" build/benchmarks/bench_create
  (source "$here/huge_pages.sh"; trap lagoon_huge_pages_release EXIT;
   [ -n "${LAGOON_SHM_DIR:-}" ] && run -np "$ranks" build/benchmarks/bench_create || true)
  LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp build/benchmarks/bench_publish
  LAGOON_RANKS_PER_NODE=1 run -np 2 build/benchmarks/bench_publish
  LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp build/benchmarks/bench_service
  # GlobalArray against Global Arrays, three ways (see README): both over TCP (GA's RMA
  # through UCX's TCP transport), GA through Open MPI's osc/rdma window (which uses shared
  # memory between ranks of one machine), and both with Open MPI's defaults.
  if [ -x build/benchmarks/bench_global ]; then
    LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp --mca osc ucx,sm --mca osc_ucx_priority 200 \
      -x UCX_TLS=tcp,self build/benchmarks/bench_global
    LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp --mca osc_sm_priority 0 build/benchmarks/bench_global
    LAGOON_RANKS_PER_NODE=1 run -np 2 build/benchmarks/bench_global
  fi
  # Loading files (.npy, HDF5) beside cat, np.load and h5py: 2 ranks on one node, then
  # on two virtual nodes; in 4 KiB pages (/dev/shm), then in huge pages.
  run -np 2 build/benchmarks/bench_io
  LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp build/benchmarks/bench_io
  (source "$here/huge_pages.sh"; trap lagoon_huge_pages_release EXIT;
   if [ -n "${LAGOON_SHM_DIR:-}" ]; then
     run -np 2 build/benchmarks/bench_io
     LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp build/benchmarks/bench_io
   fi)
  # ObjectStore: local gets, a remote get against MPI_Send/MPI_Recv, the serialized
  # path against Boost alone; then pickle 5 / mpi4py on the same strings.
  LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp build/benchmarks/bench_store
  LAGOON_RANKS_PER_NODE=1 run -np 2 build/benchmarks/bench_store
  run -np 1 build/benchmarks/bench_store --benchmark_filter='local|strings'   # (a), (c) alone on the machine
  # Tasks (every part beside its peer, see bench_tasks.cpp): one node of 2 ranks, two
  # virtual nodes over TCP, four virtual nodes over TCP (the heavy-tailed batch's
  # stealing); then mpi4py.futures on the same 2 ranks, on one node and on two.
  run -np 2 build/benchmarks/bench_tasks
  LAGOON_RANKS_PER_NODE=1 run -np 2 --mca btl self,tcp build/benchmarks/bench_tasks
  LAGOON_RANKS_PER_NODE=1 run -np 4 --mca btl self,tcp build/benchmarks/bench_tasks --benchmark_filter='batch'
  echo; echo "### benchmarks/tasks_peer.py (2 ranks: one node, then two over TCP)"
  bash "$here/mpirun.sh" -np 2 /usr/bin/python3 benchmarks/tasks_peer.py
  LAGOON_RANKS_PER_NODE=1 bash "$here/mpirun.sh" -np 2 --mca btl self,tcp /usr/bin/python3 benchmarks/tasks_peer.py
  echo; echo "### benchmarks/pickle_peer.py (1 rank, then 2)"
  bash "$here/mpirun.sh" -np 1 /usr/bin/python3 benchmarks/pickle_peer.py
  bash "$here/mpirun.sh" -np 2 /usr/bin/python3 benchmarks/pickle_peer.py
  # The strategies table (results/strategies.md, results/strategies.png).
  echo; echo "### benchmarks/strategies/run.sh"
  bash benchmarks/strategies/run.sh --out results
} 2>&1 | tee "$out"
echo "written: $out"
