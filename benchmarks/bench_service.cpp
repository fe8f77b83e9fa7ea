// What the per-node service thread costs the ranks that compute beside it: a fixed
// compute loop on every rank, before any object started the transport, with the
// transport idle, and (for scale) while another node hammers this one with gets.
// Run it with one rank per core on two or more (virtual) nodes:
//
//   LAGOON_RANKS_PER_NODE=1 mpirun -np 2 --mca btl self,tcp -x LAGOON_RANKS_PER_NODE ./bench_service
//
// The benchmarks run in the order written: the first runs before the transport starts.
#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <vector>

#include "bench_main.hpp"

namespace {

using lagoon::bench::runtime;

void runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, 3); }

/// About 0.3 s of dependent floating-point work, no memory traffic, no MPI call.
double compute() {
  volatile double seed = 1.0;  // a value the compiler cannot fold the loop over
  double x = seed;
  for (long i = 0; i < 150'000'000; ++i) {
    x = x * 0.999999999 + 1e-9;
    benchmark::DoNotOptimize(x);
  }
  return x;
}

void time_compute(benchmark::State& state) {
  for (auto _ : state) lagoon::bench::time_step(state, [] { benchmark::DoNotOptimize(compute()); });
}

void BM_compute_before_any_service(benchmark::State& state) { time_compute(state); }

void BM_compute_beside_idle_service(benchmark::State& state) {
  lagoon::GlobalArray<double> g(runtime(), {1024, 512});  // starts the transport (on 2+ nodes)
  std::vector<double> row(512);
  g.get(1023, 1024, row);
  time_compute(state);
  state.counters["nodes"] = runtime().node_count();
}

/// Rank 0 asks the last node for random 4 KiB rows without pause, while the last
/// node's ranks compute: the compute time there includes serving them.
void BM_compute_while_serving_gets(benchmark::State& state) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {1024 * static_cast<std::size_t>(rt.node_count()), 512});
  const auto theirs = g.rows_of(rt.node_count() - 1);
  std::vector<double> row(512);
  std::mt19937_64 rng(3);
  long gets = 0;
  for (auto _ : state) {
    rt.barrier();
    const double start = MPI_Wtime();
    double elapsed = 0;
    if (rt.node() == rt.node_count() - 1) {
      benchmark::DoNotOptimize(compute());
      elapsed = MPI_Wtime() - start;
    }
    // The last node tells rank 0 when it is done computing; until then rank 0 asks.
    MPI_Request done = MPI_REQUEST_NULL;
    MPI_Ibarrier(rt.world(), &done);
    int finished = 0;
    while (!finished) {
      if (rt.rank() == 0 && rt.node() != rt.node_count() - 1) {
        const std::size_t r = theirs.front() + rng() % theirs.size();
        g.get(r, r + 1, row);
        ++gets;
      }
      MPI_Test(&done, &finished, MPI_STATUS_IGNORE);
    }
    lagoon::bench::report_slowest(state, elapsed);
  }
  state.counters["gets"] = static_cast<double>(gets) / static_cast<double>(state.iterations());
}

// SharedMap::update of a counter whose key lives on the caller's node (shared memory)
// and on another node (a read and a compare-and-set through that node's service), 1,000
// updates per rank per iteration (so the time in ms is the time per update in us). A key's node is found by timing: a remote read costs
// tens of microseconds, a local one well under one.
constexpr int kUpdates = 1000;

lagoon::SharedMap<int, long>& counters() {
  static lagoon::SharedMap<int, long> m(runtime(), 4u << 20);
  return m;
}

/// A key of this rank's node (`here`) or of another node.
int key_on(bool here) {
  using Clock = std::chrono::steady_clock;
  for (int k = 0; k < 1000; ++k) {
    const auto start = Clock::now();
    for (int r = 0; r < 5; ++r) (void)counters().contains(k);
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / 5;
    if ((us < 5.0) == here) return k;
  }
  return 0;
}

void map_updates(benchmark::State& state, bool here) {
  const int key = key_on(here);  // each rank its own: the nodes differ
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      for (int i = 0; i < kUpdates; ++i) counters().update(key, [](std::optional<long> n) { return n.value_or(0) + 1; });
    });
  }
  state.counters["count"] = static_cast<double>(counters().get(key).value_or(0));
}

void BM_map_update_own_node(benchmark::State& state) { map_updates(state, true); }
void BM_map_update_other_node(benchmark::State& state) { map_updates(state, false); }

BENCHMARK(BM_compute_before_any_service)->Apply(runs);
BENCHMARK(BM_compute_beside_idle_service)->Apply(runs);
BENCHMARK(BM_compute_while_serving_gets)->Apply(runs);
BENCHMARK(BM_map_update_own_node)->Apply(runs);
BENCHMARK(BM_map_update_other_node)->Apply(runs);

const bool registered = [] {
  lagoon::bench::compare("BM_compute_beside_idle_service", "BM_compute_before_any_service",
                         "compute loop beside an idle service / without one", "target <= 1.10");
  lagoon::bench::compare("BM_compute_while_serving_gets", "BM_compute_before_any_service",
                         "compute loop while serving a stream of gets / without a service", "for scale");
  lagoon::bench::compare("BM_map_update_other_node", "BM_map_update_own_node",
                         "1,000 SharedMap updates: key on another node / on the caller's node (ms = us per update)",
                         "combine counts locally first");
  return true;
}();

}  // namespace
