// Must not compile: a GlobalArray's blocks differ in size from node to node, so its
// segment is no replica to publish; the array does not hand it out.
#include <lagoon/lagoon.hpp>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::GlobalArray<double> g(rt, {10, 3});
  g.segment().publish(0);
}
