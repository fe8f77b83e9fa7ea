// A GlobalArray over several nodes on an MPI that the program initialized without
// MPI_THREAD_MULTIPLE: every rank gets InvalidArgument naming the fix, no rank hangs.
#include <mpi.h>

#include <cstdio>
#include <lagoon/lagoon.hpp>

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided);
  int threw = 0;
  int size = 0;
  {
    lagoon::Runtime rt(MPI_COMM_WORLD);
    size = rt.size();
    try {
      lagoon::GlobalArray<double> g(rt, {8});
    } catch (const lagoon::InvalidArgument& e) {
      threw = 1;
      if (rt.rank() == 0) std::printf("rank 0: lagoon::InvalidArgument: %s\n", e.what());
    }
  }
  int all = 0;
  MPI_Allreduce(&threw, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) std::printf("%d of %d ranks threw lagoon::InvalidArgument\n", all, size);
  MPI_Finalize();
  return all == size ? 0 : 1;
}
