"""The peer of bench_tasks (c): empty tasks through mpi4py.futures' MPICommExecutor on
the same ranks (rank 0 submits, the others run), as tasks per second, and one task's
round trip. Run with 2 ranks (1 worker), as bench_tasks:

    mpirun -np 2 python3 benchmarks/tasks_peer.py
"""
import statistics
import time

from mpi4py import MPI
from mpi4py.futures import MPICommExecutor

TASKS = 1000
TRIPS = 200
REPEATS = 5


def empty(x):
    return x


def median_seconds(run):
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(executor):
    futures = [executor.submit(empty, i) for i in range(TASKS)]
    assert [f.result() for f in futures] == list(range(TASKS))


def round_trips(executor):
    for i in range(TRIPS):
        assert executor.submit(empty, i).result() == i


with MPICommExecutor(MPI.COMM_WORLD, root=0) as executor:
    if executor is not None:
        throughput(executor)  # starts the workers
        batch = median_seconds(lambda: throughput(executor))
        trips = median_seconds(lambda: round_trips(executor))
        ranks = MPI.COMM_WORLD.Get_size()
        print("mpi4py.futures MPICommExecutor, %d ranks (%d worker): %.0f empty tasks/s "
              "(%d submitted and gathered, median of %d); one task's round trip %.1f us"
              % (ranks, ranks - 1, TASKS / batch, TASKS, REPEATS, trips / TRIPS * 1e6))
