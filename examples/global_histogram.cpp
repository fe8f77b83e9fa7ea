// A histogram shared by the whole job, partitioned over the nodes: producer ranks on
// every node add their samples with atomic accumulates while reader ranks watch it
// grow with gets; nothing is lost and nobody waits for the bins' owners.
//
//   mpirun -np 4 ./global_histogram [--samples 2000000] [--bins 48]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <lagoon/lagoon.hpp>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  long samples = 2'000'000;  // per producer
  std::size_t bins = 48;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--samples") == 0) o.samples = std::max(1L, std::atol(argv[i + 1]));
    if (std::strcmp(argv[i], "--bins") == 0) o.bins = static_cast<std::size_t>(std::max(2, std::atoi(argv[i + 1])));
  }
  return o;
}

constexpr double kLow = -4.0, kHigh = 4.0;  // the histogram's range; outliers go to the end bins

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  const Options opt = parse(argc, argv);
  // Even ranks produce samples, odd ranks read; a job of one rank does both.
  const bool producer = rt.rank() % 2 == 0;
  const bool reader = rt.rank() % 2 == 1 || rt.size() == 1;
  const int producers = (rt.size() + 1) / 2;

  // 1. One array for the whole job, its bins split over the nodes (collective).
  lagoon::GlobalArray<std::int64_t> hist(rt, {opt.bins});
  if (rt.is_node_leader() && !hist.local_rows().empty())
    std::printf("node %d holds bins [%zu, %zu)\n", rt.node(), hist.local_rows().front(), hist.local_rows().back() + 1);

  // 2. Producers: bin a batch privately, then add it to the shared histogram in one
  //    accumulate that reaches every node's bins, each bin atomically.
  const auto start = std::chrono::steady_clock::now();
  if (producer) {
    std::mt19937_64 rng(12345 + static_cast<unsigned>(rt.rank()));
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<std::int64_t> batch(opt.bins);
    const double width = (kHigh - kLow) / static_cast<double>(opt.bins);
    for (long done = 0; done < opt.samples;) {
      std::fill(batch.begin(), batch.end(), 0);
      const long n = std::min(10'000L, opt.samples - done);
      for (long k = 0; k < n; ++k) {
        const double x = std::clamp(normal(rng), kLow, kHigh);
        ++batch[std::min(static_cast<std::size_t>((x - kLow) / width), opt.bins - 1)];
      }
      hist.accumulate(0, opt.bins, batch);
      done += n;
    }
  }

  // 3. Readers: snapshots of the whole histogram while it fills. Counts only grow, so
  //    each snapshot's total is at least the one before.
  if (reader) {
    std::vector<std::int64_t> snapshot(opt.bins);
    std::int64_t previous = 0;
    for (int k = 0; k < 5; ++k) {
      hist.get(0, opt.bins, snapshot);
      const std::int64_t seen = std::accumulate(snapshot.begin(), snapshot.end(), std::int64_t{0});
      if (seen < previous) std::printf("rank %d: MISMATCH, the total went down from %lld to %lld\n", rt.rank(),
                                       static_cast<long long>(previous), static_cast<long long>(seen));
      previous = seen;
      if (rt.rank() == 1 || rt.size() == 1) std::printf("rank %d sees %lld samples so far\n", rt.rank(), static_cast<long long>(seen));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // 4. fence() completes every accumulate; reduce() counts each bin once, on its owner.
  hist.fence();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::int64_t total = lagoon::reduce(rt, hist, std::int64_t{0}, std::plus<>{});
  const std::int64_t expected = static_cast<std::int64_t>(producers) * opt.samples;

  if (rt.rank() == 0) {
    std::vector<std::int64_t> all(opt.bins);
    hist.get(0, opt.bins, all);
    const std::int64_t tallest = *std::max_element(all.begin(), all.end());
    const double width = (kHigh - kLow) / static_cast<double>(opt.bins);
    for (std::size_t b = 0; b < opt.bins; b += 2) {
      const std::int64_t pair = all[b] + (b + 1 < opt.bins ? all[b + 1] : 0);
      std::printf("%+5.2f %s\n", kLow + static_cast<double>(b) * width,
                  std::string(static_cast<std::size_t>(60.0 * static_cast<double>(pair) / (2.0 * static_cast<double>(tallest))), '#').c_str());
    }
    std::printf("%d producers x %ld samples in %.2f s on %d ranks, %d node(s): total %lld, expected %lld: %s\n", producers,
                opt.samples, seconds, rt.size(), rt.node_count(), static_cast<long long>(total),
                static_cast<long long>(expected), total == expected ? "OK" : "MISMATCH");
  }
  lagoon::report(rt);  // one line per node: PSS of its ranks
  return total == expected ? 0 : 1;
}
