"""Python's side of bench_store (c): the same 1M short strings, as a list of str,
through pickle protocol 5 in memory, and from one rank to another with mpi4py
(which pickles with protocol 5). Run with 2 ranks:

    mpirun -np 2 python3 benchmarks/pickle_peer.py
"""
import pickle
import statistics
import time

from mpi4py import MPI

N = 1_000_000
REPEATS = 5
ITERATIONS = 10

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
data = ["item-%d" % (i * 2654435761 % 1000000007) for i in range(N)]


def median_ms(run):
    times = []
    for _ in range(REPEATS):
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(ITERATIONS):
            run()
        elapsed = (time.perf_counter() - start) / ITERATIONS
        times.append(comm.allreduce(elapsed, op=MPI.MAX))
    return statistics.median(times) * 1e3


def in_memory():
    back = pickle.loads(pickle.dumps(data, protocol=5))
    assert len(back) == N


def between_ranks():
    if rank == 0:
        comm.send(data, dest=1, tag=3)
    elif rank == 1:
        back = comm.recv(source=0, tag=3)
        assert len(back) == N


memory_ms = median_ms(in_memory)
ranks_ms = median_ms(between_ranks) if comm.Get_size() > 1 else float("nan")
if rank == 0:
    print("pickle protocol 5, dumps+loads of 1M short strings in memory: %.1f ms (median of %d, slowest rank)"
          % (memory_ms, REPEATS))
    print("mpi4py send+recv of the same list between 2 ranks (pickle 5): %.1f ms" % ranks_ms)
