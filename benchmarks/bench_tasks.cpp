// Tasks: a skewed batch (every task submitted by rank 0) run by the whole job through
// the node queues and stealing, beside the ideal split of the same work by rank; and
// the cost of one task that stays on its node (submit + run + get, no MPI message).
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "bench_main.hpp"

namespace {

using lagoon::bench::runtime;
using Clock = std::chrono::steady_clock;

constexpr int kTasksPerRank = 12;
constexpr int kTaskMicroseconds = 10000;

/// Work that keeps a core busy for `us` microseconds (a sleep would leave it free).
double burn(int us) {
  const auto until = Clock::now() + std::chrono::microseconds(us);
  double x = 1.0;
  while (Clock::now() < until)
    for (int i = 0; i < 1000; ++i) x = x * 1.0000001 + 1e-9;
  return x;
}

struct Pool {
  Pool() : store(runtime(), 16 << 20), pool(runtime(), store) {
    work = pool.define([](int us) { return burn(us); });
    empty = pool.define([](int x) { return x; });
  }
  lagoon::ObjectStore store;
  lagoon::TaskPool pool;
  lagoon::Task<double(int)> work;
  lagoon::Task<int(int)> empty;
};

/// Made on first use, collectively (every rank runs every benchmark); ended before
/// the Runtime ends MPI.
Pool& pool() {
  static std::unique_ptr<Pool> p;
  if (!p) {
    p = std::make_unique<Pool>();
    lagoon::bench::on_shutdown([] { p.reset(); });
  }
  return *p;
}

void BM_skewed_batch(benchmark::State& state) {
  auto& rt = runtime();
  auto& p = pool();
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      if (rt.rank() == 0)
        for (int i = 0; i < kTasksPerRank * rt.size(); ++i) (void)p.pool.submit(p.work, kTaskMicroseconds);
      p.pool.join();
    });
  }
  state.counters["tasks"] = kTasksPerRank * rt.size();
  state.counters["nodes"] = rt.node_count();
}

void BM_ideal_split(benchmark::State& state) {
  auto& rt = runtime();
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      for (int i = 0; i < kTasksPerRank; ++i) benchmark::DoNotOptimize(burn(kTaskMicroseconds));
    });
  }
  state.counters["ranks"] = rt.size();
}

void BM_local_task(benchmark::State& state) {
  auto& p = pool();
  constexpr int kTasks = 1000;
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      std::vector<lagoon::Future<int>> f;
      f.reserve(kTasks);
      for (int i = 0; i < kTasks; ++i) f.push_back(p.pool.submit(p.empty, i));
      for (auto& x : f) benchmark::DoNotOptimize(x.get());
    });
  }
  state.counters["tasks_per_rank"] = kTasks;
}

BENCHMARK(BM_skewed_batch)->Apply([](auto* b) { lagoon::bench::slowest_rank_runs(b, 3); });
BENCHMARK(BM_ideal_split)->Apply([](auto* b) { lagoon::bench::slowest_rank_runs(b, 3); });
BENCHMARK(BM_local_task)->Apply([](auto* b) { lagoon::bench::slowest_rank_runs(b, 5); });

const bool registered = [] {
  lagoon::bench::compare("BM_skewed_batch", "BM_ideal_split",
                         "skewed batch (all tasks submitted by rank 0, 10 ms each) / ideal split by rank",
                         "close to the ideal: target <= 1.15");
  return true;
}();

}  // namespace
