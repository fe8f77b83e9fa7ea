// Must not compile: a pointer is an address in one process only.
#include <lagoon/lagoon.hpp>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::SharedArray<double*> pointers(rt, {4});
}
