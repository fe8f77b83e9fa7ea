// Must not compile: a std::string owns heap memory, meaningless in another process.
#include <lagoon/lagoon.hpp>
#include <string>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::SharedArray<std::string> names(rt, {4});
}
