// A program outside lagoon's tree that writes and reads an HDF5 dataset.
#include <cstdio>
#include <lagoon/hdf5.hpp>
#include <lagoon/lagoon.hpp>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::SharedArray<double> a(rt, {100});
  for (auto i : lagoon::node_share(rt, a.size())) a[i] = static_cast<double>(i);
  a.fence();
  const std::string path = argc > 1 ? argv[1] : "consumer.h5";
  lagoon::save_hdf5(a, path, "/a");
  auto b = lagoon::load_hdf5<double>(rt, path, "/a");
  return b[99] == 99.0 ? 0 : 1;
}
