#!/usr/bin/env python3
"""h5py's side of lagoon's HDF5 tests.

  h5py_files.py make DIR     writes DIR/h5py.h5: one dataset per type lagoon reads
  h5py_files.py verify DIR   checks that every DIR/out-*/lagoon.h5 (written by lagoon after
                             loading DIR/h5py.h5) holds the same datasets, equal element
                             by element, plus the ones lagoon made itself

The values are the formulas of tests/npy/numpy_files.py (and tests/mpi/records.hpp).
datetime64 fields travel as int64 nanoseconds: h5py has no time type.
"""
import glob
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "npy"))
from numpy_files import N, floats, same, strings, times  # noqa: E402


def trades(n, align):
    i = np.arange(n, dtype=np.int64)
    dtype = np.dtype([("when", "<i8"), ("price", "<f8"), ("qty", "<i8"), ("code", "S6")], align=align)
    t = np.zeros(n, dtype=dtype)
    t["when"], t["price"], t["qty"], t["code"] = times(i).view("<i8"), floats(i), i * 3 - 7, strings(i)
    return t


def datasets():
    i = np.arange(N, dtype=np.int64)
    return {
        "f8": floats(i),
        "f4": floats(i).astype("<f4"),
        "i4": (i * 100003 - 50000000).astype("<i4"),
        "u1": ((i * 37) % 256).astype("u1"),
        "i8": (i * 10**12 - 5 * 10**14).astype("<i8"),
        "b1": i % 3 == 0,
        "c16": (i + (-i / 2.0) * 1j).astype("<c16"),
        "S6": strings(i),
        "f8_2d": (np.arange(3 * 1000, dtype="<f8") * 1.5).reshape(1000, 3),
        "trades": trades(N, align=False),            # a compound, packed (NumPy's default)
        "group/sub/trades_aligned": trades(N, align=True),  # the C struct's layout, in a group
    }


def make(directory):
    os.makedirs(directory, exist_ok=True)
    for old in glob.glob(os.path.join(directory, "out-*")):
        shutil.rmtree(old)
    with h5py.File(os.path.join(directory, "h5py.h5"), "w") as f:
        for name, data in datasets().items():
            f.create_dataset(name, data=data)
        f.create_dataset("scalar", data=np.float64(1.5))  # rank 0: refused
        f.create_dataset("vlen", data=np.array(["a", "bc"], dtype=h5py.string_dtype()))  # refused
    print(f"h5py_files.py: wrote {len(datasets()) + 2} datasets to {directory}/h5py.h5 with h5py {h5py.__version__}")


def verify(directory):
    originals = datasets()
    outs = sorted(glob.glob(os.path.join(directory, "out-*")))
    if not outs:
        sys.exit(f"h5py_files.py: no out-* folder in {directory}: lagoon wrote nothing")
    failures = checked = 0
    for out in outs:
        with h5py.File(os.path.join(out, "lagoon.h5"), "r") as f:
            expected = dict(originals)
            expected["global/f8_2d"] = originals["f8_2d"]
            expected["global/trades"] = originals["trades"]
            made = trades(2 * N, align=False)
            expected["made/trades"] = made
            for name, original in expected.items():
                checked += 1
                back = f[name][()]
                # lagoon writes records packed; compare field by field either way.
                if original.dtype.names:
                    ok = back.dtype.names == original.dtype.names and all(
                        same(back[k], original[k]) for k in original.dtype.names)
                else:
                    ok = same(back, original)
                if not ok:
                    print(f"FAIL {out}/lagoon.h5:{name}: differs (dtype {back.dtype} vs {original.dtype})")
                    failures += 1
    print(f"h5py_files.py: {checked - failures} of {checked} datasets written by lagoon read back equal in "
          f"h5py {h5py.__version__} ({len(outs)} runs)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "verify"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else verify)(sys.argv[2])
