// Uneven work: a batch of tasks whose costs are heavy-tailed (a few take far longer
// than the rest), all submitted by rank 0. Every rank runs tasks from its node's
// queue, and ranks of other nodes steal, so the batch ends close to the ideal time
// (total work / ranks, or the longest task if that is longer) instead of the time of
// the unluckiest static share.
//
//   mpirun -np 4 build/examples/tasks_uneven [--tasks 200] [--unit-us 200]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lagoon/lagoon.hpp>
#include <map>
#include <random>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Done {
  double seconds = 0;  ///< how long the task computed
  double value = 0;
  int rank = -1;
  int node = -1;
};

/// A Monte Carlo estimate of pi from `samples` points: real work, of known size.
double estimate_pi(long samples, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  long inside = 0;
  for (long i = 0; i < samples; ++i) {
    const double x = u(gen), y = u(gen);
    inside += x * x + y * y <= 1.0 ? 1 : 0;
  }
  return 4.0 * static_cast<double>(inside) / static_cast<double>(samples);
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  int tasks = 200;
  long unit = 20000;  // samples per unit of cost
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--tasks") == 0) tasks = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--unit") == 0) unit = std::atol(argv[i + 1]);
  }
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto work = pool.define([&rt](long samples, unsigned seed) {
    const auto t = Clock::now();
    const double pi = estimate_pi(samples, seed);
    return Done{std::chrono::duration<double>(Clock::now() - t).count(), pi, rt.rank(), rt.node()};
  });

  // Heavy-tailed costs: Pareto with shape 1.5, capped at 50 units.
  std::vector<long> costs(static_cast<std::size_t>(tasks));
  std::mt19937_64 gen(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& c : costs) c = unit * static_cast<long>(std::min(50.0, std::ceil(1.0 / std::pow(1.0 - u(gen), 1 / 1.5))));

  rt.barrier();
  const auto start = Clock::now();
  std::vector<lagoon::Future<Done>> futures;
  if (rt.rank() == 0)
    for (int i = 0; i < tasks; ++i)
      futures.push_back(pool.submit(work, costs[static_cast<std::size_t>(i)], static_cast<unsigned>(i)));
  pool.join();  // every rank works until the batch is done
  const double makespan = std::chrono::duration<double>(Clock::now() - start).count();

  if (rt.rank() == 0) {
    double busy = 0, longest = 0, pi = 0;
    std::map<int, int> by_rank;
    std::map<int, int> by_node;
    for (auto& f : futures) {
      const Done d = f.get();
      busy += d.seconds;
      longest = std::max(longest, d.seconds);
      pi += d.value;
      ++by_rank[d.rank];
      ++by_node[d.node];
    }
    pi /= tasks;
    const double ideal = std::max(busy / rt.size(), longest);
    std::printf("lagoon tasks_uneven: %d heavy-tailed tasks from rank 0, %d ranks on %d node(s)\n", tasks, rt.size(),
                rt.node_count());
    std::printf("tasks per rank:");
    for (auto [rank, count] : by_rank) std::printf(" %d:%d", rank, count);
    std::printf("\ntasks per node:");
    for (auto [node, count] : by_node) std::printf(" %d:%d", node, count);
    std::printf("\nmakespan %.3f s, ideal %.3f s (work %.3f s over %d ranks; longest task %.3f s): %.2f x ideal\n",
                makespan, ideal, busy, rt.size(), longest, makespan / ideal);
    std::printf("pi = %.4f, expected 3.14 within 0.01: %s\n", pi,
                std::abs(pi - 3.14159) < 0.01 && static_cast<int>(by_node.size()) == rt.node_count() ? "OK"
                                                                                                    : "MISMATCH");
  }
  lagoon::report(rt);
}
