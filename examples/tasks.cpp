// Tasks, like Ray's remote functions: uneven work shared by every rank of every node.
//
//   mpirun -np 4 build/examples/tasks [--chunks 64]
//
// 1. An array is put into the store once (on the last node); one task per chunk sums
//    its chunk where the array lives, reading it in place (ObjectRef arguments).
// 2. A batch of uneven tasks (chunk i costs i units of work), all submitted by rank 0,
//    runs on every rank: each node's ranks take tasks from their node's queue, and
//    idle nodes steal. Futures are combined by a task that depends on them.
// 3. join(): every task submitted anywhere has run.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lagoon/lagoon.hpp>
#include <map>
#include <numeric>
#include <vector>

namespace {

struct Part {
  double sum = 0;
  int rank = -1;
  int node = -1;
};

/// `units` of real work (a slow series), so uneven tasks cost uneven time.
double series(int units) {
  double x = 0;
  for (long i = 1; i <= 200000L * units; ++i) x += 1.0 / (static_cast<double>(i) * static_cast<double>(i));
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  int chunks = 64;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--chunks") == 0) chunks = std::atoi(argv[i + 1]);

  lagoon::ObjectStore store(rt, 64 << 20);
  lagoon::TaskPool pool(rt, store);
  // 0. Every rank defines the same tasks, in the same order.
  auto chunk_sum = pool.define([&rt](lagoon::ObjectView<double> v, int chunk, int count) {
    const std::size_t begin = v.size() * static_cast<std::size_t>(chunk) / static_cast<std::size_t>(count);
    const std::size_t end = v.size() * static_cast<std::size_t>(chunk + 1) / static_cast<std::size_t>(count);
    return Part{std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(begin),
                                v.begin() + static_cast<std::ptrdiff_t>(end), 0.0),
                rt.rank(), rt.node()};
  });
  auto uneven = pool.define([&rt](int units) { return Part{series(units), rt.rank(), rt.node()}; });
  auto add = pool.define([](Part a, Part b) { return Part{a.sum + b.sum, -1, -1}; });

  // 1. Placement by data: the array lives on the last node; its chunks are summed there.
  const std::size_t n = 4'000'000;
  lagoon::ObjectRef<std::vector<double>> ref;
  if (rt.rank() == rt.size() - 1) ref = store.put(std::vector<double>(n, 0.25));
  ref = lagoon::broadcast(rt, ref, rt.size() - 1);
  const auto start = std::chrono::steady_clock::now();
  if (rt.rank() == 0) {
    std::vector<lagoon::Future<Part>> parts;
    for (int c = 0; c < chunks; ++c) parts.push_back(pool.submit(chunk_sum, ref, c, chunks));
    double total = 0;
    std::map<int, int> by_node;
    for (auto& f : parts) {
      const Part p = f.get();
      total += p.sum;
      ++by_node[p.node];
    }
    std::printf("1. %d chunk sums of an array on node %d: total %.1f, expected %.1f: %s\n", chunks,
                ref.owner_node(), total, 0.25 * static_cast<double>(n), total == 0.25 * n ? "OK" : "MISMATCH");
    for (auto [node, count] : by_node) std::printf("   node %d ran %d of them\n", node, count);

    // 2. An uneven batch from one rank, shared by every rank; a task combines the futures.
    std::vector<lagoon::Future<Part>> batch;
    for (int c = 1; c <= chunks; ++c) batch.push_back(pool.submit(uneven, c % 8 + 1));
    auto combined = pool.submit(add, batch[0], batch[1]);
    std::map<int, int> by_rank;
    for (auto& f : batch) ++by_rank[f.get().rank];
    const double pair = batch[0].get().sum + batch[1].get().sum;
    std::printf("2. %d uneven tasks from rank 0 ran on %zu rank(s):", chunks, by_rank.size());
    for (auto [rank, count] : by_rank) std::printf(" rank %d: %d;", rank, count);
    std::printf("\n   a task depending on two futures: %.12f, expected %.12f: %s\n", combined.get().sum, pair,
                std::abs(combined.get().sum - pair) < 1e-12 ? "OK" : "MISMATCH");
  }
  // 3. Every rank works until every task submitted anywhere has run.
  pool.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (rt.rank() == 0)
    std::printf("3. join: all done in %.3f s on %d rank(s), %d node(s)\n", seconds, rt.size(), rt.node_count());
}
