#!/usr/bin/env python3
"""Python's readers, timed for bench_io: prints the seconds one read took.

  io_peer.py npy PATH            np.load(PATH)
  io_peer.py h5 PATH DATASET     h5py.File(PATH)[DATASET][()]   (into a NumPy array)
  io_peer.py drop PATH           nothing timed: evicts PATH from the page cache
"""
import os
import sys
import time

import numpy as np


def main(argv):
    kind, path = argv[1], argv[2]
    if kind == "drop":
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        return
    start = time.perf_counter()
    if kind == "npy":
        a = np.load(path)
    else:
        import h5py
        with h5py.File(path, "r") as f:
            a = f[argv[3]][()]
    seconds = time.perf_counter() - start
    assert a.size > 0
    print(f"{seconds:.6f}")


if __name__ == "__main__":
    main(sys.argv)
