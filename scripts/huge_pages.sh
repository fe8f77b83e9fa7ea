#!/usr/bin/env bash
# Sourced: when run as root and LAGOON_SHM_DIR is unset, mounts a tmpfs with
# huge pages (huge=always) at /run/lagoon-huge and exports LAGOON_SHM_DIR, so
# shared arrays are created in 2 MiB pages. lagoon_huge_pages_release unmounts
# it again if this script mounted it. Without root, or where mounting is not
# allowed, lagoon uses /dev/shm (4 KiB pages) and says so.
lagoon_mounted_huge=""
if [ -z "${LAGOON_SHM_DIR:-}" ] && [ "$(id -u)" -eq 0 ]; then
  mkdir -p /run/lagoon-huge
  if mountpoint -q /run/lagoon-huge; then
    export LAGOON_SHM_DIR=/run/lagoon-huge
  elif mount -t tmpfs -o huge=always,size=75% lagoon-huge /run/lagoon-huge 2>/dev/null; then
    export LAGOON_SHM_DIR=/run/lagoon-huge
    lagoon_mounted_huge=yes
  else
    echo "lagoon: could not mount a huge-page tmpfs; shared memory stays in /dev/shm (4 KiB pages)"
  fi
fi
lagoon_huge_pages_release() {
  if [ -n "$lagoon_mounted_huge" ]; then umount /run/lagoon-huge || true; fi
}
