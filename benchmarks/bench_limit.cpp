// The memory-bandwidth limit without MPI: one process, one thread per core, a
// private array first-touched by the threads that read it, the same 8-lane
// kernel as lagoon::reduce. bench_reduce's in-MPI peer runs beside lagoon in one
// binary; this one shows what the cores give with no MPI process around at all.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <functional>
#include <lagoon/algorithms.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "team.hpp"

namespace {

std::size_t elements() {
  const char* text = std::getenv("LAGOON_BENCH_BYTES");
  return static_cast<std::size_t>(text ? std::atof(text) : 1.5e9) / sizeof(double);
}

void BM_reduce_limit_threads(benchmark::State& state) {
  const std::size_t n = elements();
  const auto threads = static_cast<std::size_t>(state.range(0));
  std::unique_ptr<double[]> x(new double[n]);
  std::vector<double> partial(threads);
  auto in_parallel = [&](auto body) { lagoon::bench::in_parallel(threads, n, body); };
  in_parallel([&](std::size_t, std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) x[i] = static_cast<double>(i % 1024);
  });
  for (auto _ : state) {
    in_parallel([&](std::size_t t, std::size_t begin, std::size_t end) {
      auto plus = std::plus<>{};
      partial[t] = lagoon::detail::fold_lanes<double>(x.get() + begin, end - begin, plus).value_or(0.0);
    });
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(double)));
}

BENCHMARK(BM_reduce_limit_threads)
    ->Arg(static_cast<int>(std::thread::hardware_concurrency()))
    ->Iterations(10)->Repetitions(5)->ReportAggregatesOnly(true)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
