// Reducing 1.5 GB of doubles: lagoon over all the node's ranks, beside one
// process summing a private array with one thread per rank (the memory-bandwidth
// limit), with the same kernel.
#include <sys/mman.h>

#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "bench_main.hpp"
#include "team.hpp"

namespace {

using lagoon::bench::runtime;

constexpr int kIterations = 10;
void runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, kIterations); }

void BM_reduce_lagoon(benchmark::State& state) {
  auto& rt = runtime();
  const std::size_t n = lagoon::bench::big_bytes() / sizeof(double);
  lagoon::SharedArray<double> a(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) a[i] = static_cast<double>(i % 1024);
  a.fence();
  double total = 0;
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] { total = lagoon::reduce(rt, a, 0.0, std::plus<>{}); });
  }
  benchmark::DoNotOptimize(total);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(double)));
  state.counters["ranks"] = rt.size();
}

/// One process, one thread per rank of the node, private memory: what the memory
/// system gives without any sharing machinery. Its threads may use every core
/// (mpirun binds each rank to one). Starting them costs ~0.1 ms an iteration.
void BM_reduce_private_threads(benchmark::State& state) {
  auto& rt = runtime();
  const std::size_t n = lagoon::bench::big_bytes() / sizeof(double);
  const auto threads = static_cast<std::size_t>(rt.node_size());
  const bool root = rt.rank() == 0;
  // Uninitialized, then first-touched by the threads that will read it (as lagoon's
  // ranks first-touch their shares), so each thread's pages sit near its core.
  std::unique_ptr<double[]> x(root ? new double[n] : nullptr);
  auto in_parallel = [&](auto body) { lagoon::bench::in_parallel(threads, n, body); };
  if (root) {
    lagoon::bench::AllCores unbound;
    in_parallel([&](std::size_t, std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) x[i] = static_cast<double>(i % 1024);
    });
  }
  double total = 0;
  for (auto _ : state) {
    lagoon::bench::idle_barrier(rt.world());
    double elapsed = 0;
    if (root) {
      lagoon::bench::AllCores unbound;
      const double start = MPI_Wtime();
      std::vector<double> partial(threads, 0.0);
      in_parallel([&](std::size_t t, std::size_t begin, std::size_t end) {
        auto plus = std::plus<>{};
        partial[t] = lagoon::detail::fold_lanes<double>(x.get() + begin, end - begin, plus).value_or(0.0);
      });
      total = 0;
      for (double p : partial) total += p;
      elapsed = MPI_Wtime() - start;
    }
    lagoon::bench::idle_barrier(rt.world());
    lagoon::bench::report_slowest(state, elapsed);
  }
  benchmark::DoNotOptimize(total);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(double)));
  state.counters["threads"] = static_cast<double>(threads);
}

BENCHMARK(BM_reduce_lagoon)->Apply(runs);
BENCHMARK(BM_reduce_private_threads)->Apply(runs);

const bool registered = [] {
  lagoon::bench::compare("BM_reduce_lagoon", "BM_reduce_private_threads",
                         "reduce: lagoon (all ranks) / one process, private array, threads", "time ratio; target <= 1.11, i.e. >= 0.9 of the limit");
  return true;
}();

}  // namespace
