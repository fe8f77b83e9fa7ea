#!/usr/bin/env python3
"""NumPy's side of lagoon's .npy tests.

  numpy_files.py make DIR     writes DIR/<name>.npy, one file per dtype lagoon reads
  numpy_files.py verify DIR   checks that every DIR/out-*/<name>.npy (saved by lagoon
                              after loading DIR/<name>.npy) loads back in NumPy equal
                              to the original, with the same dtype and shape, and that
                              DIR/out-*/trades.npy (made by lagoon) holds the values
                              test_npy_numpy.cpp computes.

The values are formulas of the index i; tests/mpi/test_npy_numpy.cpp computes the same.
"""
import glob
import os
import shutil
import sys

import numpy as np

N = 1001  # odd: the ranks' shares differ in size
STRINGS = [b"string", b"abc", b"", b"toolong", b"x\0y", "\u00e9".encode()]
BASE_NS = 1_600_000_000_000_000_000


def floats(i):
    x = i * 0.25 - 100.0
    return np.where(i % 7 == 3, np.nan, x)


def times(i):
    t = (BASE_NS + i * 1_000_000_007).astype("M8[ns]")
    t[i % 11 == 5] = np.datetime64("NaT")
    return t


def strings(i):
    return np.array([STRINGS[k % len(STRINGS)] for k in i], dtype="S6")


def arrays():
    i = np.arange(N, dtype=np.int64)
    out = {
        "f8": floats(i),
        "f4": floats(i).astype("<f4"),
        "i1": ((i * 37) % 256 - 128).astype("i1"),
        "i2": ((i * 1009) % 65536 - 32768).astype("<i2"),
        "i4": (i * 100003 - 50000000).astype("<i4"),
        "i8": (i * 10**12 - 5 * 10**14).astype("<i8"),
        "u1": ((i * 37) % 256).astype("u1"),
        "u2": ((i * 1009) % 65536).astype("<u2"),
        "u4": ((i * 4000037) % 2**32).astype("<u4"),
        "u8": np.array([(k * 2**54 + k) % 2**64 for k in range(N)], dtype="<u8"),
        "b1": (i % 3 == 0),
        "c8": (i + (-i / 2.0) * 1j).astype("<c8"),
        "c16": (i + (-i / 2.0) * 1j).astype("<c16"),
        "M8": times(i),
        "S6": strings(i),
        "f8_2d": (np.arange(12, dtype="<f8") * 1.5).reshape(3, 4),
        "f8_empty": np.zeros(0, dtype="<f8"),
    }
    # The article's record (datetime64, float64 with NaN, S6), laid out as a C struct.
    row = np.dtype([("date", "M8[ns]"), ("val", "<f8"), ("code", "S6")], align=True)
    r = np.zeros(N, dtype=row)
    r["date"], r["val"], r["code"] = times(i), floats(i), strings(i)
    out["row"] = r
    trade = np.dtype([("when", "M8[ns]"), ("price", "<f8"), ("qty", "<i8"), ("code", "S6")], align=True)
    t = np.zeros(N, dtype=trade)
    t["when"], t["price"], t["qty"], t["code"] = times(i), floats(i), i * 3 - 7, strings(i)
    out["trade"] = t
    sample = np.dtype([("id", "<i2"), ("xyz", "<f4", (3,)), ("flag", "u1"), ("ok", "?"), ("z", "<c16")],
                      align=True)
    s = np.zeros(N, dtype=sample)
    s["id"] = (i % 30000).astype("<i2")
    s["xyz"] = np.stack([i * 0.5, -i * 0.5, i * 0.25], axis=1)
    s["flag"] = (i % 256).astype("u1")
    s["ok"] = i % 2 == 1
    s["z"] = i - 1j * i
    out["sample"] = s
    # NumPy's default layout for the same records (np.dtype([...]), DataFrame.to_records()):
    # fields back to back. lagoon loads them and saves them back packed.
    for name in ("row", "trade", "sample"):
        aligned = out[name]
        packed = np.dtype([(f, aligned.dtype.fields[f][0]) for f in aligned.dtype.names])
        assert packed.itemsize < aligned.dtype.itemsize
        out[name + "_packed"] = aligned.astype(packed)
    return out


def same(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.names:
        return all(same(a[name], b[name]) for name in a.dtype.names)
    if a.dtype.kind in "fcmM":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def verify(directory):
    originals = arrays()
    outs = sorted(glob.glob(os.path.join(directory, "out-*")))
    if not outs:
        sys.exit(f"numpy_files.py: no out-* folder in {directory}: lagoon saved nothing")
    failures = 0
    for out in outs:
        for name, original in originals.items():
            path = os.path.join(out, name + ".npy")
            back = np.load(path)
            if not same(back, original):
                print(f"FAIL {path}: differs from {name}.npy (dtype {back.dtype} vs {original.dtype})")
                failures += 1
        # A record array made by lagoon, in both layouts: when, price, qty, code as
        # test_npy_numpy.cpp fills them.
        for name, expected in (("trades", originals["trade"].dtype), ("trades_packed", originals["trade_packed"].dtype)):
            t = np.load(os.path.join(out, name + ".npy"))
            i = np.arange(len(t), dtype=np.int64)
            ok = (t.dtype == expected and len(t) == 2 * N and same(t["when"], times(i))
                  and same(t["price"], floats(i)) and np.array_equal(t["qty"], i * 3 - 7)
                  and np.array_equal(t["code"], strings(i)))
            if not ok:
                print(f"FAIL {out}/{name}.npy: not the records lagoon wrote (dtype {t.dtype})")
                failures += 1
    checked = len(outs) * (len(originals) + 2)
    print(f"numpy_files.py: {checked - failures} of {checked} files saved by lagoon load back equal in NumPy "
          f"{np.__version__} ({len(outs)} runs)")
    sys.exit(1 if failures else 0)


def make(directory):
    os.makedirs(directory, exist_ok=True)
    for old in glob.glob(os.path.join(directory, "out-*")):
        shutil.rmtree(old)  # a folder of another run's layout would be checked, and found empty
    for name, array in arrays().items():
        np.save(os.path.join(directory, name + ".npy"), array)
    # The same fields as a C struct's, in another order: refused.
    swapped = np.zeros(4, dtype=[("val", "<f8"), ("date", "M8[ns]"), ("code", "S6")])
    np.save(os.path.join(directory, "row_swapped.npy"), swapped)
    np.save(os.path.join(directory, "f8_fortran.npy"), np.asfortranarray(np.ones((3, 4))))
    np.save(os.path.join(directory, "f8_big.npy"), np.arange(5, dtype=">f8"))
    np.save(os.path.join(directory, "object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)
    print(f"numpy_files.py: wrote {len(arrays()) + 4} files to {directory} with NumPy {np.__version__}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "verify"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else verify)(sys.argv[2])
