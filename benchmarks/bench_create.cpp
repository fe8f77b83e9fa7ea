// Creating (and zeroing) a big array: lagoon's SharedArray beside a private
// buffer of the same size in huge pages and in 4 KiB pages, populated by as
// many threads as the node has ranks. Run it once with LAGOON_SHM_DIR on a
// huge-page tmpfs and once without (scripts/bench.sh does both).
#include <sys/mman.h>

#include <optional>

#include "bench_main.hpp"
#include "team.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

using lagoon::bench::runtime;

constexpr int kIterations = 3;
void runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, kIterations); }

void BM_create_shared_array(benchmark::State& state) {
  auto& rt = runtime();
  const std::size_t bytes = lagoon::bench::big_bytes();
  for (auto _ : state) {
    std::optional<lagoon::SharedArray<std::byte>> a;
    lagoon::bench::time_step(state, [&] { a.emplace(rt, std::initializer_list<std::size_t>{bytes}); });
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

/// A private anonymous buffer, huge pages or not, populated by one thread per node rank.
void create_private(benchmark::State& state, int advice) {
  auto& rt = runtime();
  const std::size_t bytes = lagoon::bench::big_bytes();
  const auto threads = static_cast<std::size_t>(rt.node_size());
  for (auto _ : state) {
    lagoon::bench::idle_barrier(rt.world());
    double elapsed = 0;
    if (rt.rank() == 0) {
      lagoon::bench::AllCores unbound;
      const double start = MPI_Wtime();
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      madvise(p, bytes, advice);
      lagoon::bench::in_parallel(threads, (bytes + 4095) / 4096, [&](std::size_t, std::size_t lo, std::size_t hi) {
        madvise(static_cast<char*>(p) + lo * 4096, (hi - lo) * 4096, MADV_POPULATE_WRITE);
      });
      elapsed = MPI_Wtime() - start;
      munmap(p, bytes);
    }
    lagoon::bench::idle_barrier(rt.world());
    lagoon::bench::report_slowest(state, elapsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_create_private_huge_pages(benchmark::State& state) { create_private(state, MADV_HUGEPAGE); }
void BM_create_private_4k_pages(benchmark::State& state) { create_private(state, MADV_NOHUGEPAGE); }

BENCHMARK(BM_create_shared_array)->Apply(runs);
BENCHMARK(BM_create_private_huge_pages)->Apply(runs);
BENCHMARK(BM_create_private_4k_pages)->Apply(runs);

const bool registered = [] {
  lagoon::bench::compare("BM_create_shared_array", "BM_create_private_huge_pages",
                         "create+zero: SharedArray / private huge-page buffer", "target <= 1.5 with LAGOON_SHM_DIR on huge pages");
  lagoon::bench::compare("BM_create_shared_array", "BM_create_private_4k_pages",
                         "create+zero: SharedArray / private 4 KiB-page buffer", "same page size without LAGOON_SHM_DIR");
  return true;
}();

}  // namespace
