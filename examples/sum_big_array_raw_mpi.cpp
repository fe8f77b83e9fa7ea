// The big-array demo written against MPI-3 directly, to show what lagoon does for
// you. Same work as sum_big_array.cpp (one array per node, filled by the node's
// ranks, summed by all), and none of: virtual nodes, copies between nodes,
// alignment past Open MPI's window header, a free-memory check, parallel page
// population, zeroing where the window comes from the heap, errors agreed on by
// every rank, chunking past 2 GiB, or freeing the window if an exception flies.
//
//   mpirun -np 4 ./sum_big_array_raw_mpi [--gb 1.5]
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  double gb = 1.5;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--gb") == 0) gb = std::atof(argv[i + 1]);
  const auto n = static_cast<MPI_Aint>(gb * 1e9 / sizeof(double));

  // 1. The node's ranks, and one shared window on the node (all of it on node rank 0).
  int rank = 0, size = 0, node_rank = 0, node_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_size(node, &node_size);
  double* x = nullptr;
  MPI_Win win;
  MPI_Win_allocate_shared(node_rank == 0 ? n * static_cast<MPI_Aint>(sizeof(double)) : 0, sizeof(double),
                          MPI_INFO_NULL, node, &x, &win);
  MPI_Aint bytes = 0;
  int unit = 0;
  MPI_Win_shared_query(win, 0, &bytes, &unit, &x);  // node rank 0's part, in this process
  MPI_Win_lock_all(MPI_MODE_NOCHECK, win);

  // 2. Fill: each rank its share of the node's copy; then sync + barrier + sync.
  const double start = MPI_Wtime();
  const MPI_Aint fill_begin = n * node_rank / node_size, fill_end = n * (node_rank + 1) / node_size;
  for (MPI_Aint i = fill_begin; i < fill_end; ++i) x[i] = static_cast<double>(i % 1024);
  MPI_Win_sync(win);
  MPI_Barrier(node);
  MPI_Win_sync(win);

  // 3. Sum: each rank its share of the world's work, then one allreduce. (With more
  //    than one node this assumes every node filled its own copy, as here.)
  const MPI_Aint begin = n * rank / size, end = n * (rank + 1) / size;
  double partial = 0.0;
  for (MPI_Aint i = begin; i < end; ++i) partial += x[i];
  double total = 0.0;
  MPI_Allreduce(&partial, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const double elapsed = MPI_Wtime() - start;

  const double blocks = static_cast<double>(n / 1024), rest = static_cast<double>(n % 1024);
  const double expected = blocks * (1023.0 * 1024.0 / 2.0) + rest * (rest - 1.0) / 2.0;
  if (rank == 0)
    std::printf("raw MPI-3: %d ranks, fill + sum of %.2f GB in %.1f ms; sum = %.1f, expected %.1f: %s\n", size,
                static_cast<double>(n) * sizeof(double) / 1e9, elapsed * 1e3, total, expected,
                total == expected ? "OK" : "MISMATCH");

  MPI_Win_unlock_all(win);
  MPI_Win_free(&win);
  MPI_Comm_free(&node);
  MPI_Finalize();
  return total == expected ? 0 : 1;
}
