// Ray's object store for an MPI program: rank 0 puts a big vector and a map of
// strings; every rank of every node gets both. The vector is read in place in the
// node's shared arena (one transfer per node that does not own it); the map, which
// is not Shareable, comes back through its Boost.Serialization archive.
//
//   mpirun -np 4 ./object_store [--mb 256]
//   mpirun -np 4 -x LAGOON_RANKS_PER_NODE=2 --mca btl self,tcp ./object_store   (2 virtual nodes)
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lagoon/lagoon.hpp>
#include <map>
#include <numeric>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  std::size_t mb = 256;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--mb") == 0) mb = std::strtoull(argv[i + 1], nullptr, 10);
  const std::size_t n = mb * (1u << 20) / sizeof(double);

  // Room for the vector, the map and a copy on every other node.
  lagoon::ObjectStore store(rt, mb * (1u << 20) + (16u << 20));
  if (rt.rank() == 0) std::printf("%s\n", store.describe().c_str());

  struct Refs {
    lagoon::ObjectRef<std::vector<double>> vector;
    lagoon::ObjectRef<std::map<std::string, std::string>> map;
  } refs;
  if (rt.rank() == 0) {
    std::vector<double> v(n);
    std::iota(v.begin(), v.end(), 0.0);
    std::map<std::string, std::string> capitals{
        {"France", "Paris"}, {"Japan", "Tokyo"}, {"Kenya", "Nairobi"}, {"Peru", "Lima"}, {"Norway", "Oslo"}};
    refs = {store.put(v), store.put(capitals)};
  }
  refs.vector = lagoon::broadcast(rt, refs.vector, 0);  // refs are Shareable: rank 0's, on every rank
  refs.map = lagoon::broadcast(rt, refs.map, 0);

  const auto start = std::chrono::steady_clock::now();
  auto view = store.get(refs.vector);  // lagoon::ObjectView<double>
  const double get_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const double sum = std::accumulate(view.begin(), view.end(), 0.0);
  const double expected = static_cast<double>(n) * static_cast<double>(n - 1) / 2;
  const auto capitals = store.get(refs.map);  // a std::map, deserialized

  for (int r = 0; r < rt.size(); ++r) {
    if (r == rt.rank()) {
      std::printf("rank %d (node %d): vector of %zu doubles: %s, %s, got in %.3f ms; sum %s; map of %zu: %s, %s\n",
                  rt.rank(), rt.node(), view.size(),
                  store.in_arena(view.data()) ? "zero-copy view in the node arena" : "NOT IN THE ARENA",
                  view.owned_here() ? "owned by this node"
                  : view.fetched()  ? "fetched from node 0 by this rank (once for the node)"
                                    : "the copy another rank of this node fetched",
                  get_ms, sum == expected ? "OK" : "MISMATCH", capitals.size(), "deserialized copy (not Shareable)",
                  capitals.at("Japan").c_str());
      std::fflush(stdout);
    }
    rt.barrier();
  }
  if (rt.rank() == 0) {
    for (const auto& s : store.stats())
      std::printf("node %d: %zu objects (%.1f MiB), %zu cached copies (%.1f MiB), %llu fetches, %llu cache hits\n",
                  s.node, s.objects, s.object_bytes / 1048576.0, s.cached, s.cached_bytes / 1048576.0,
                  static_cast<unsigned long long>(s.fetches), static_cast<unsigned long long>(s.cache_hits));
  }
  rt.barrier();
  view = {};  // let go of the bytes before they are freed
  if (rt.rank() == 0) {
    store.free(refs.vector);
    store.free(refs.map);
  }
  rt.barrier();
  try {
    (void)store.get(refs.vector);
  } catch (const lagoon::ObjectFreed& e) {
    if (rt.rank() == 0) std::printf("after free: %s\n", e.what());
  }
  if (rt.rank() == 0)
    std::printf("all ranks: sum %.0f, expected %.0f: %s\n", sum, expected, sum == expected ? "OK" : "MISMATCH");
  lagoon::report(rt);  // one line per node: PSS, the arena, objects, fetches
  return sum == expected ? 0 : 1;
}
