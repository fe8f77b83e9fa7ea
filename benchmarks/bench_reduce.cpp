// Reducing 1.5 GB of doubles: lagoon over all the node's ranks, beside one
// process summing a private array with one thread per rank (the memory-bandwidth
// limit), with the same kernel. And one k-means step (below) beside a plain loop and
// MPI_Allreduce.
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

// One k-means step over 2M 2-d points and 8 centroids (per-centroid sums and counts),
// three ways: a loop over lagoon::share and raw MPI_Allreduce (the peer), the same loop
// and lagoon::allreduce, and lagoon::transform_reduce (each point mapped to a whole
// accumulator).
constexpr std::size_t kPoints = 2'000'000;
constexpr int kCentroids = 8;

struct Point {
  double x, y;
};

struct KSums {
  double sx[kCentroids];
  double sy[kCentroids];
  double n[kCentroids];
  KSums& operator+=(const KSums& o) {
    for (int c = 0; c < kCentroids; ++c) {
      sx[c] += o.sx[c];
      sy[c] += o.sy[c];
      n[c] += o.n[c];
    }
    return *this;
  }
};

int nearest_centroid(const Point& p) {
  int best = 0;
  double best_d = 1e300;
  for (int c = 0; c < kCentroids; ++c) {  // centroids at (c, c)
    const double dx = p.x - c, dy = p.y - c, d = dx * dx + dy * dy;
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

lagoon::SharedArray<Point>& points() {
  static lagoon::SharedArray<Point> p = [] {
    lagoon::SharedArray<Point> a(runtime(), {kPoints});
    for (auto i : lagoon::node_share(runtime(), kPoints))
      a[i] = Point{static_cast<double>(i % 97) / 12.0, static_cast<double>(i % 89) / 11.0};
    a.fence();
    return a;
  }();
  return p;
}

KSums loop_share() {
  KSums mine{};
  for (auto i : lagoon::share(runtime(), kPoints)) {
    const Point& p = points()[i];
    const int c = nearest_centroid(p);
    mine.sx[c] += p.x;
    mine.sy[c] += p.y;
    mine.n[c] += 1;
  }
  return mine;
}

void BM_kmeans_loop_mpi_allreduce(benchmark::State& state) {
  KSums all{};
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      const KSums mine = loop_share();
      MPI_Allreduce(&mine, &all, 3 * kCentroids, MPI_DOUBLE, MPI_SUM, runtime().world());
    });
  }
  state.counters["n0"] = all.n[0];
}

void BM_kmeans_loop_lagoon_allreduce(benchmark::State& state) {
  KSums all{};
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      all = lagoon::allreduce(runtime(), loop_share(), [](KSums a, const KSums& b) { return a += b; });
    });
  }
  state.counters["n0"] = all.n[0];
}

void BM_kmeans_transform_reduce(benchmark::State& state) {
  KSums all{};
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      all = lagoon::transform_reduce(
          runtime(), points(), KSums{}, [](KSums a, const KSums& b) { return a += b; },
          [](const Point& p) {
            KSums one{};
            const int c = nearest_centroid(p);
            one.sx[c] = p.x;
            one.sy[c] = p.y;
            one.n[c] = 1;
            return one;
          });
    });
  }
  state.counters["n0"] = all.n[0];
}

BENCHMARK(BM_reduce_lagoon)->Apply(runs);
BENCHMARK(BM_reduce_private_threads)->Apply(runs);
BENCHMARK(BM_kmeans_loop_mpi_allreduce)->Apply(runs);
BENCHMARK(BM_kmeans_loop_lagoon_allreduce)->Apply(runs);
BENCHMARK(BM_kmeans_transform_reduce)->Apply(runs);

const bool registered = [] {
  lagoon::bench::compare("BM_reduce_lagoon", "BM_reduce_private_threads",
                         "reduce: lagoon (all ranks) / one process, private array, threads", "time ratio; target <= 1.11, i.e. >= 0.9 of the limit");
  lagoon::bench::compare("BM_kmeans_loop_lagoon_allreduce", "BM_kmeans_loop_mpi_allreduce",
                         "k-means step, 2M points: loop + lagoon::allreduce / loop + MPI_Allreduce", "target <= 1.1");
  lagoon::bench::compare("BM_kmeans_transform_reduce", "BM_kmeans_loop_mpi_allreduce",
                         "k-means step, 2M points: lagoon::transform_reduce / loop + MPI_Allreduce",
                         "a whole accumulator per point");
  return true;
}();

}  // namespace
