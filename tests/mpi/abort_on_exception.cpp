// Fail-stop: an exception escaping main on one rank, while the others wait in a
// collective, must end the whole job (MPI_Abort from ~Runtime), never hang it.
#include <lagoon/lagoon.hpp>
#include <stdexcept>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  if (rt.rank() == rt.size() - 1) throw std::runtime_error("a worker failed");
  rt.barrier();  // the other ranks wait here for a rank that will never come
  return 0;
}
