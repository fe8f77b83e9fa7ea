// Fail-stop: an exception escaping main on one rank, while the others wait in a
// collective and a shared array is alive, must end the whole job (MPI_Abort from
// lagoon's terminate handler), never hang it, and leave nothing in /dev/shm.
#include <lagoon/lagoon.hpp>
#include <stdexcept>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::SharedArray<double> a(rt, {std::size_t{8} << 20});  // 64 MiB in a shared window
  a[rt.rank()] = 1.0;
  if (rt.rank() == rt.size() - 1) throw std::runtime_error("a worker failed");
  rt.barrier();  // the other ranks wait here for a rank that will never come
  return 0;
}
