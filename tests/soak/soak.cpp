// A soak: every rank runs 3 threads that mix GlobalArray gets and accumulates,
// ObjectStore puts, gets and frees, and SharedMap updates, across nodes, for a bounded
// time; at the end every count is exact, and the process's RSS and PSS and the store's
// arena are back near what they were after a warm-up (no leak).
//
//   soak [--seconds S]      (default 30; CTest runs it on 2 hosts of scripts/cluster.sh)
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lagoon/lagoon.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kRows = 2048;
constexpr int kThreads = 3;
constexpr int kKeys = 32;

struct Counts {
  std::atomic<long long> accumulated{0};  // elements added to the GlobalArray (each +1)
  std::atomic<long long> updates{0};      // SharedMap updates (each +1)
  std::atomic<long long> objects{0};      // objects put, read back and freed
  std::atomic<long long> bad{0};          // values that differed from what was expected
};

/// One thread's mix, until `end`: accumulate, get, put, get, free, update.
void work(lagoon::Runtime& rt, lagoon::GlobalArray<long>& g, lagoon::ObjectStore& store,
          lagoon::SharedMap<std::string, long>& map, Counts& counts, int thread, Clock::time_point end,
          std::atomic<bool>& failed) {
  try {
    std::mt19937_64 random(static_cast<std::uint64_t>(rt.rank() * 16 + thread + 1));
    const std::vector<long> ones(4, 1);
    std::vector<long> row(4);
    for (long i = 0; Clock::now() < end; ++i) {
      const std::size_t r = random() % kRows;
      g.accumulate(r, r + 1, std::span<const long>(ones));
      counts.accumulated += 4;
      const std::size_t q = random() % kRows;
      g.get(q, q + 1, std::span<long>(row));
      if (row[0] < 0) ++counts.bad;
      const std::vector<double> value(1000 + random() % 20000, static_cast<double>(i));
      const auto ref = store.put(value);
      const auto back = store.get(ref);
      if (back.size() != value.size() || back[0] != static_cast<double>(i)) ++counts.bad;
      store.free(ref);
      ++counts.objects;
      map.update("key" + std::to_string(random() % kKeys), [](std::optional<long> old) { return old.value_or(0) + 1; });
      ++counts.updates;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: rank %d thread %d: %s\n", rt.rank(), thread, e.what());
    failed = true;
  }
}

long long sum_over_world(const lagoon::Runtime& rt, long long mine) {
  long long all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_LONG_LONG, MPI_SUM, rt.world());
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  double seconds = 30;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  lagoon::GlobalArray<long> g(rt, {kRows, 4});
  lagoon::ObjectStore store(rt, 64u << 20);
  lagoon::SharedMap<std::string, long> map(rt, 8u << 20);
  std::atomic<bool> failed{false};

  // A warm-up of the same mix, so that the baseline holds what stays (pools, caches).
  const auto run = [&](double s, Counts& counts) {
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back(work, std::ref(rt), std::ref(g), std::ref(store), std::ref(map), std::ref(counts), t, end,
                           std::ref(failed));
    for (auto& t : threads) t.join();
    g.fence();
    rt.barrier();
  };
  Counts warm;
  run(std::min(2.0, seconds / 10), warm);
  const auto before = lagoon::memory_usage();
  const std::size_t arena_before = store.local_stats().used;
  Counts counts;
  run(seconds, counts);
  const auto after = lagoon::memory_usage();
  const std::size_t arena_after = store.local_stats().used;

  // Exact counts: the array holds every increment, the map every update.
  long long in_array = 0;
  if (rt.is_node_leader())
    for (long v : g.local()) in_array += v;
  in_array = sum_over_world(rt, in_array);
  long long in_map = 0;
  if (rt.rank() == 0)
    for (int k = 0; k < kKeys; ++k) in_map += map.get("key" + std::to_string(k)).value_or(0);
  in_map = sum_over_world(rt, in_map);
  const long long accumulated = sum_over_world(rt, warm.accumulated + counts.accumulated);
  const long long updates = sum_over_world(rt, warm.updates + counts.updates);
  const long long objects = sum_over_world(rt, counts.objects);
  const long long bad = sum_over_world(rt, warm.bad + counts.bad + (failed ? 1 : 0));

  // No leak: RSS and PSS back within 8 MiB of the baseline, the arena within 1 MiB (a
  // fetched copy whose drop came while a view of it was alive goes a little later).
  const auto grew = [](std::size_t a, std::size_t b) { return static_cast<double>(b) - static_cast<double>(a); };
  const double rss_grew = grew(before.rss, after.rss);
  const double pss_grew = grew(before.pss, after.pss);
  const bool memory_ok = rss_grew < 8.0 * (1 << 20) && pss_grew < 8.0 * (1 << 20) &&
                         grew(arena_before, arena_after) < 1.0 * (1 << 20);
  const long long memory_bad = sum_over_world(rt, memory_ok ? 0 : 1);
  for (int r = 0; r < rt.size(); ++r) {
    if (r == rt.rank())
      std::printf("soak: rank %d (node %d, %s): RSS %+.1f MiB, PSS %+.1f MiB, store arena %zu -> %zu bytes%s\n",
                  rt.rank(), rt.node(), lagoon::mpi::processor_name().c_str(), rss_grew / (1 << 20),
                  pss_grew / (1 << 20), arena_before, arena_after, memory_ok ? "" : "  LEAK?");
    std::fflush(stdout);
    rt.barrier();
  }
  const bool ok = bad == 0 && in_array == accumulated && in_map == updates && memory_bad == 0;
  if (rt.rank() == 0) {
    std::printf("soak: %d ranks x %d threads on %d nodes for %.0f s: %lld accumulated (array holds %lld), %lld updates "
                "(map holds %lld), %lld objects put/got/freed, %lld bad values: %s\n",
                rt.size(), kThreads, rt.node_count(), seconds, accumulated, in_array, updates, in_map, objects, bad,
                ok ? "OK" : "MISMATCH");
  }
  return ok ? 0 : 1;
}
