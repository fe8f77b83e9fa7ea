// A second Runtime after the first ended MPI: a RuntimeFinalized on every rank that
// says why, not an abort from inside MPI.
#include <cstdio>
#include <lagoon/lagoon.hpp>

int main(int argc, char** argv) {
  { lagoon::Runtime rt(argc, argv); }  // starts MPI, and ends it as it goes
  try {
    lagoon::Runtime again(argc, argv);
  } catch (const lagoon::RuntimeFinalized& e) {
    std::printf("second Runtime refused: %s\n", e.what());
    return 0;
  }
  std::printf("a second Runtime after MPI_Finalize was not refused\n");
  return 1;
}
