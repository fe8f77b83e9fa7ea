#!/usr/bin/env bash
# Installs what lagoon needs from Debian 12 (as root, or through sudo) and builds
# it in build/ (Release). Run by demo.sh, test.sh and bench.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libboost1.81-dev
          libboost-serialization1.81-dev libgtest-dev libbenchmark-dev clang
          python3-numpy python3-mpi4py
          libhdf5-openmpi-dev python3-h5py  # parallel HDF5 (lagoon/hdf5.hpp) and its Python peer
          iproute2 slurmctld slurmd slurm-client munge)  # the cluster on this machine (tests' long labels)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "lagoon: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
