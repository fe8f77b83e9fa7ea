// The seed article's workload (shared/seeds/001) the way it does it with Ray: put a
// big float64 array into the object store once, submit one sum task per chunk with the
// array's ref, and gather the partial sums through futures. The tasks run where the
// array lives and read it in place: no rank holds a copy, nothing is pickled.
//
//   mpirun -np 4 build/examples/tasks_sum [--gb 1.5] [--chunks 64]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lagoon/lagoon.hpp>
#include <map>
#include <numeric>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Partial {
  double sum = 0;
  int node = -1;
  bool in_place = false;  ///< the task read the array in its node's arena
};

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  double gb = 1.5;
  int chunks = 64;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--gb") == 0) gb = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--chunks") == 0) chunks = std::atoi(argv[i + 1]);
  }
  const auto n = static_cast<std::size_t>(gb * 1e9 / sizeof(double));
  lagoon::ObjectStore store(rt, n * sizeof(double) + (64 << 20));
  lagoon::TaskPool pool(rt, store);

  // One task per chunk: a view of the whole array, in place, and which chunk to sum.
  auto chunk_sum = pool.define([&](lagoon::ObjectView<double> v, int chunk, int count) {
    const std::size_t begin = v.size() * static_cast<std::size_t>(chunk) / static_cast<std::size_t>(count);
    const std::size_t end = v.size() * static_cast<std::size_t>(chunk + 1) / static_cast<std::size_t>(count);
    const double s = std::reduce(v.begin() + static_cast<std::ptrdiff_t>(begin),
                                 v.begin() + static_cast<std::ptrdiff_t>(end), 0.0);
    return Partial{s, rt.node(), store.in_arena(v.data())};
  });

  // ray.put(array): rank 0 fills the array (0..999 repeating) and puts it once.
  lagoon::ObjectRef<std::vector<double>> ref;
  auto t = Clock::now();
  if (rt.rank() == 0) {
    std::vector<double> a(n);
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<double>(i % 1000);
    ref = store.put(a);
  }
  ref = lagoon::broadcast(rt, ref, 0);
  const double put_ms = ms_since(t);

  // [sum.remote(ref, c) for c in chunks]; ray.get(...)
  t = Clock::now();
  if (rt.rank() == 0) {
    std::vector<lagoon::Future<Partial>> parts;
    for (int c = 0; c < chunks; ++c) parts.push_back(pool.submit(chunk_sum, ref, c, chunks));
    double total = 0;
    std::map<int, int> by_node;
    int in_place = 0;
    for (auto& f : parts) {
      const Partial p = f.get();
      total += p.sum;
      ++by_node[p.node];
      in_place += p.in_place ? 1 : 0;
    }
    const double sum_ms = ms_since(t);
    const std::size_t full = n / 1000;
    const double expected = 499500.0 * static_cast<double>(full) +
                            static_cast<double>((n % 1000) * (n % 1000 - (n % 1000 ? 1 : 0))) / 2.0;
    std::printf("lagoon tasks_sum: %d ranks on %d node(s), %.2f GB float64 array, %d chunk tasks\n", rt.size(),
                rt.node_count(), static_cast<double>(n * sizeof(double)) / 1e9, chunks);
    std::printf("put once: %.1f ms; sum by tasks: %.1f ms; %d of %d tasks read the array in place\n", put_ms, sum_ms,
                in_place, chunks);
    for (auto [node, count] : by_node) std::printf("  node %d ran %d task(s)\n", node, count);
    std::printf("sum = %.1f, expected %.1f: %s\n", total, expected,
                total == expected && in_place == chunks ? "OK" : "MISMATCH");
  }
  pool.join();
  lagoon::report(rt);  // one line per node: PSS, the store's arena, objects, fetches
}
