// Must not compile: the Runtime's shared state is lagoon's own, not part of its API.
#include <lagoon/lagoon.hpp>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  auto ctx = rt.context();
  (void)ctx;
}
