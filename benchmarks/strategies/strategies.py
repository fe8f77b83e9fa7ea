#!/usr/bin/env python3
"""The strategies table, Python side: the article's ways of sharing one float64
array with a pool of worker processes, each summing its slice with numpy.sum.

  strategies.py --workers 4 [--gb 1.5] [--repeat 3]          a process pool (fork)
  mpirun -np 4 python3 strategies.py --mpi [--gb 1.5] ...    mpi4py's shared window

For each strategy it prints one JSON line: setup (starting the workers, excluded
from the total as the article did), share (making the array reachable by the
workers), sum (every worker sums its slice; dispatch to last result) and the memory
this costs: the growth of the summed PSS of the parent and its workers between just
before the array is shared and the moment every worker has summed. Every worker then
sums its slice once more, still attached (the warm sum). For pickle, the
array travels inside the task, so share is the dispatch-to-result time less the
workers' own summing time.
"""
import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from multiprocessing import RawArray, resource_tracker
from multiprocessing.shared_memory import SharedMemory

import numpy as np

DATA = None  # the copy-on-write strategy's array, set before the pool forks
RAW = None   # RawArray, handed to the workers by inheritance
BARRIER = None  # the workers and the parent measure their memory together, all blocks mapped
HUGE_DIR = None  # a huge-page tmpfs, for one more memmap row


def pss():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def make_data(n):
    """Integers 0..999 as float64: every sum is exact. Returns (array, exact sum)."""
    rng = np.random.default_rng(12345)
    data = np.empty(n, dtype=np.float64)
    total = 0
    step = 1 << 24
    for start in range(0, n, step):
        chunk = rng.integers(0, 1000, min(step, n - start), dtype=np.int64)
        data[start:start + len(chunk)] = chunk
        total += int(chunk.sum())
    return data, float(total)


def slices(n, workers):
    return [(n * w // workers, n * (w + 1) // workers) for w in range(workers)]


# ---- worker tasks: each returns (sum, seconds spent summing, pid, pss) ----------

def ready(_):
    time.sleep(0.05)  # long enough that every worker takes one
    return os.getpid(), pss()


def sum_array(a):
    """Sums, sums again with every worker (the warm sum, timed by the parent between
    BARRIER waits), then measures PSS with every mapping still alive."""
    t = time.perf_counter()
    s = float(np.sum(a))
    seconds = time.perf_counter() - t
    BARRIER.wait()
    np.sum(a)  # again, still attached: the warm sum
    BARRIER.wait()
    p = pss()
    BARRIER.wait()
    return s, seconds, os.getpid(), p


def sum_inherited(b, e):
    return sum_array(DATA[b:e])


def set_raw(raw):
    global RAW
    RAW = raw


def sum_raw(b, e):
    return sum_array(np.frombuffer(RAW, dtype=np.float64)[b:e])


def sum_memmap(path, n, b, e):
    m = np.memmap(path, dtype=np.float64, mode="r", shape=(n,))
    result = sum_array(m[b:e])
    del m
    return result


def sum_shared_memory(name, n, b, e):
    shm = SharedMemory(name=name)
    a = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
    result = sum_array(a[b:e])
    del a
    shm.close()
    return result


class Pool:
    """A started ProcessPoolExecutor and every worker's PSS once it runs."""

    def __init__(self, workers, **kwargs):
        global BARRIER
        BARRIER = multiprocessing.Barrier(workers + 1)  # inherited by the forked workers
        t = time.perf_counter()
        self.executor = ProcessPoolExecutor(workers, **kwargs)
        self.pss = dict(self.executor.map(ready, range(workers)))
        self.setup = time.perf_counter() - t

    def run(self, fn, tasks):
        """Runs fn(*task), one task per worker; returns (total, seconds until every worker
        has summed, max summing seconds). The memory is measured meanwhile (peak)."""
        t = time.perf_counter()
        futures = [self.executor.submit(fn, *task) for task in tasks]
        BARRIER.wait()  # every worker has summed
        wall = time.perf_counter() - t
        t = time.perf_counter()
        BARRIER.wait()  # every worker has summed again
        self.warm = time.perf_counter() - t
        parent = pss()
        BARRIER.wait()
        results = [f.result() for f in futures]
        self.peak = sum(r[3] for r in results) + parent
        return sum(r[0] for r in results), wall, max(r[1] for r in results)

    def memory(self):
        """Every process's PSS now: the parent's and its (idle) workers'."""
        return sum(self.pss.values()) + pss()

    def close(self):
        self.executor.shutdown()


def strategy(name, data, workers, repeat, expected):
    global DATA, RAW
    n = len(data)
    setup, share, total_sum, warm, memory, result = [], [], [], [], 0, 0.0
    for _ in range(repeat):
        raw = shm = None  # the previous repetition's block is gone before this one measures
        if name == "pickle (ProcessPoolExecutor)":
            pool = Pool(workers)
            before = pool.memory()
            result, wall, summing = pool.run(sum_array, [(data[b:e],) for b, e in slices(n, workers)])
            share.append(wall - summing)
            total_sum.append(summing)
        elif name == "copy-on-write (fork)":
            DATA = data
            before = pss()
            pool = Pool(workers)
            share.append(0.0)
            result, wall, _ = pool.run(sum_inherited, slices(n, workers))
            total_sum.append(wall)
        elif name == "multiprocessing RawArray":
            before = pss()
            t = time.perf_counter()
            raw = RawArray("d", n)
            np.frombuffer(raw, dtype=np.float64)[:] = data
            share.append(time.perf_counter() - t)
            pool = Pool(workers, initializer=set_raw, initargs=(raw,))
            result, wall, _ = pool.run(sum_raw, slices(n, workers))
            total_sum.append(wall)
        elif name.startswith("numpy.memmap"):
            folder = "/tmp" if "/tmp" in name else "/dev/shm" if "/dev/shm" in name else HUGE_DIR
            path = os.path.join(folder, f"lagoon-strategies-{os.getpid()}.dat")
            pool = Pool(workers)
            before = pool.memory()
            t = time.perf_counter()
            m = np.memmap(path, dtype=np.float64, mode="w+", shape=(n,))
            m[:] = data
            share.append(time.perf_counter() - t)
            result, wall, _ = pool.run(sum_memmap, [(path, n, b, e) for b, e in slices(n, workers)])
            total_sum.append(wall)
            del m
            os.remove(path)
        elif name == "multiprocessing SharedMemory":
            pool = Pool(workers)
            before = pool.memory()
            t = time.perf_counter()
            shm = SharedMemory(create=True, size=data.nbytes)
            np.ndarray((n,), dtype=np.float64, buffer=shm.buf)[:] = data
            share.append(time.perf_counter() - t)
            result, wall, _ = pool.run(sum_shared_memory, [(shm.name, n, b, e) for b, e in slices(n, workers)])
            total_sum.append(wall)
        else:
            raise ValueError(name)
        memory = max(memory, pool.peak - before)  # the peak over repetitions
        warm.append(pool.warm)
        setup.append(pool.setup)
        pool.close()
        if name == "multiprocessing SharedMemory":
            shm.close()
            shm.unlink()
        DATA = RAW = raw = None
    emit(name, "pool", workers, data.nbytes, setup, share, total_sum, warm, memory, result, expected)


def median(values):
    return sorted(values)[len(values) // 2] if values else 0.0


def emit(name, group, workers, nbytes, setup, share, summing, warm, memory, result, expected):
    print(json.dumps({"language": "Python", "group": group, "strategy": name, "workers": workers, "bytes": nbytes,
                      "repeats": len(summing), "setup_ms": round(median(setup) * 1e3, 3),
                      "share_ms": round(median(share) * 1e3, 3), "sum_ms": round(median(summing) * 1e3, 3),
                      "warm_sum_ms": round(median(warm) * 1e3, 3),
                      "memory_bytes": memory, "sum": result, "expected": expected}), flush=True)


def mpi_strategy(n, repeat):
    """mpi4py: one shared window per node (MPI.Win.Allocate_shared), ranks as workers."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    data, expected = make_data(n) if comm.rank == 0 else (None, 0.0)
    expected = comm.bcast(expected)
    setup, share, summing, warm, memory, result = [], [], [], [], 0, 0.0
    b, e = slices(n, comm.size)[comm.rank]
    for _ in range(repeat):
        before = comm.allreduce(pss())
        comm.Barrier()
        t = MPI.Wtime()
        win = MPI.Win.Allocate_shared(n * 8 if node.rank == 0 else 0, 8, comm=node)
        buf, _ = win.Shared_query(0)
        a = np.ndarray((n,), dtype=np.float64, buffer=buf)
        if comm.rank == 0:
            a[:] = data
        # Another node's leader would receive its copy here; this benchmark runs on one node.
        comm.Barrier()
        share.append(comm.allreduce(MPI.Wtime() - t, op=MPI.MAX))
        setup.append(0.0)
        for times in (summing, warm):  # the first sum, then again (warm)
            comm.Barrier()
            t = MPI.Wtime()
            result = comm.allreduce(float(np.sum(a[b:e])))
            times.append(comm.allreduce(MPI.Wtime() - t, op=MPI.MAX))
        memory = max(memory, comm.allreduce(pss()) - before)
        del a, buf
        win.Free()
    if comm.rank == 0:
        emit("mpi4py Win.Allocate_shared", "mpi", comm.size, n * 8, setup, share, summing, warm, memory, result,
             expected)


STRATEGIES = ["pickle (ProcessPoolExecutor)", "copy-on-write (fork)", "multiprocessing RawArray",
              "numpy.memmap in /tmp", "numpy.memmap in /dev/shm", "multiprocessing SharedMemory"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=1.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--mpi", action="store_true")
    parser.add_argument("--huge-dir", help="a huge-page tmpfs: adds numpy.memmap of a file there")
    args = parser.parse_args()
    n = int(args.gb * 1e9 / 8)
    if args.mpi:
        mpi_strategy(n, args.repeat)
        return
    # The parent starts the resource tracker before any pool forks, so that the workers
    # share it: a tracker a worker started itself would unlink SharedMemory blocks
    # when that worker exits.
    resource_tracker.ensure_running()
    data, expected = make_data(n)
    global HUGE_DIR
    HUGE_DIR = args.huge_dir
    for name in STRATEGIES + (["numpy.memmap in a huge-page tmpfs"] if HUGE_DIR else []):
        strategy(name, data, args.workers, args.repeat, expected)


if __name__ == "__main__":
    sys.exit(main())
