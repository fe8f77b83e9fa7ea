// GlobalArray: the block distribution, get/put round trips against a serial model,
// lost-update-free accumulate, progress while the owner computes, algorithms, bad
// input (checked before anything moves) and an idle service that costs no core.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;
using Clock = std::chrono::steady_clock;

class GlobalArrayTest : public lagoon::testing::MpiTest {};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

/// CPU seconds this process (all its threads) has used.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

TEST_F(GlobalArrayTest, RowsAreSplitInBalancedBlocksOverNodes) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {1001, 3, 2});
  EXPECT_EQ(g.shape(), (std::vector<std::size_t>{1001, 3, 2}));
  EXPECT_EQ(g.size(), 1001u * 6);
  EXPECT_EQ(g.row_size(), 6u);
  std::size_t covered = 0;
  std::size_t smallest = SIZE_MAX, largest = 0;
  for (int n = 0; n < rt.node_count(); ++n) {
    const auto rows = g.rows_of(n);
    EXPECT_EQ(rows.empty() ? covered : rows.front(), covered) << "node " << n;
    for (auto r : rows) EXPECT_EQ(g.owner_node(r), n);
    covered += rows.size();
    smallest = std::min(smallest, rows.size());
    largest = std::max(largest, rows.size());
  }
  EXPECT_EQ(covered, 1001u);
  EXPECT_LE(largest - smallest, 1u);
  EXPECT_EQ(g.local_rows().size(), g.rows_of(rt.node()).size());
  EXPECT_EQ(g.local().size(), g.local_rows().size() * 6);
  for (double x : g.local()) ASSERT_EQ(x, 0.0);
}

TEST_F(GlobalArrayTest, LocalWritesAreSeenByEveryRankOfEveryNodeAfterFence) {
  auto& rt = runtime();
  const std::size_t n = 10007;
  lagoon::GlobalArray<std::int64_t> g(rt, {n, 2});
  auto local = g.local();
  const std::size_t first = g.local_rows().empty() ? 0 : g.local_rows().front();
  for (auto i : lagoon::node_share(rt, local.size())) local[i] = static_cast<std::int64_t>(first * 2 + i) * 7;
  g.fence();
  std::vector<std::int64_t> all(n * 2);
  g.get(0, n, all);
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<std::int64_t>(i) * 7) << "element " << i;
}

TEST_F(GlobalArrayTest, RandomPutsAndGetsMatchASerialModel) {
  auto& rt = runtime();
  const std::size_t rows = 997, cols = 5;
  lagoon::GlobalArray<std::uint32_t> g(rt, {rows, cols});
  std::vector<std::uint32_t> model(rows * cols, 0);
  std::mt19937_64 shared_rng(42);                                      // the same on every rank: the writers' moves
  std::mt19937_64 own_rng(1000 + static_cast<unsigned>(rt.rank()));   // this rank's reads
  auto random_range = [&](std::mt19937_64& rng) {
    std::size_t a = rng() % (rows + 1), b = rng() % (rows + 1);
    if (a > b) std::swap(a, b);
    return std::pair{a, b};
  };
  for (int round = 0; round < 12; ++round) {
    const int writer = round % rt.size();
    for (int k = 0; k < 8; ++k) {
      const auto [b, e] = random_range(shared_rng);
      std::vector<std::uint32_t> values((e - b) * cols);
      for (auto& v : values) v = static_cast<std::uint32_t>(shared_rng());
      std::copy(values.begin(), values.end(), model.begin() + static_cast<std::ptrdiff_t>(b * cols));
      if (rt.rank() == writer) g.put(b, e, values);
    }
    g.fence();
    for (int k = 0; k < 8; ++k) {
      const auto [b, e] = random_range(own_rng);
      std::vector<std::uint32_t> out((e - b) * cols, 0xdeadbeef);
      g.get(b, e, out);
      for (std::size_t i = 0; i < out.size(); ++i)
        ASSERT_EQ(out[i], model[b * cols + i]) << "round " << round << ", rows [" << b << ", " << e << "), element " << i;
    }
    g.fence();  // reads of this round end before the next round's writes
  }
}

TEST_F(GlobalArrayTest, AGetAfterAPutFromTheSameRankReadsIt) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {64, 8});
  const std::size_t row = (static_cast<std::size_t>(rt.rank()) * 13) % 64;  // usually another node's row
  for (int k = 0; k < 20; ++k) {
    std::vector<double> in(8, rt.rank() + k * 0.5);
    std::vector<double> out(8);
    if (rt.rank() == 0) {  // one writer per row: ranks would otherwise race
      g.put(row, row + 1, in);
      g.get(row, row + 1, out);
      ASSERT_EQ(out, in) << "round " << k;
    }
  }
  g.fence();
}

TEST_F(GlobalArrayTest, AScalarAccumulateAddsToOneElementOfAnyShape) {
  auto& rt = runtime();
  lagoon::GlobalArray<std::int64_t> g(rt, {10, 7});
  for (std::size_t i = 0; i < 70; ++i) g.accumulate(i, static_cast<std::int64_t>(i % 7 + 1));
  g.fence();
  std::vector<std::int64_t> got(70);
  g.get(0, 10, got);
  for (std::size_t i = 0; i < 70; ++i) ASSERT_EQ(got[i], static_cast<std::int64_t>(i % 7 + 1) * rt.size()) << i;
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.accumulate(70, 1); }, "out of"));
  lagoon::GlobalArray<double> hist(rt, {16});
  hist.accumulate(static_cast<std::size_t>(rt.rank()) % 16, 0.5);
  hist.fence();
  std::vector<double> bins(16);
  hist.get(0, 16, bins);
  EXPECT_EQ(std::accumulate(bins.begin(), bins.end(), 0.0), 0.5 * rt.size());
}

TEST_F(GlobalArrayTest, FlushAppliesThisRanksPutsWithoutAFence) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {64, 4});
  g.fence();
  const int last = rt.node_count() - 1;
  const std::size_t row = g.rows_of(last).front();
  if (rt.rank() == 0) {
    const std::vector<double> in(4, 42.0);
    g.put(row, row + 1, in);
    g.accumulate(row * 4 + 3, 1.0);
    g.flush();  // not collective: only rank 0 calls it
  }
  rt.barrier();  // no fence: the barrier only orders the read after rank 0's flush
  if (rt.node() == last) {
    const auto local = g.local();
    EXPECT_EQ(local[0], 42.0) << "rank 0's put is at its owner after its flush";
    EXPECT_EQ(local[3], 43.0);
  }
  g.fence();
}

TEST_F(GlobalArrayTest, ConcurrentAccumulatesLoseNoUpdate) {
  auto& rt = runtime();
  const std::size_t bins = 1000;
  const int per_rank = 100000;
  lagoon::GlobalArray<std::int64_t> g(rt, {bins});
  std::mt19937_64 rng(7 + static_cast<unsigned>(rt.rank()));
  for (int k = 0; k < per_rank; ++k) {
    const std::size_t bin = rng() % bins;
    const std::int64_t one[1] = {1};
    g.accumulate(bin, bin + 1, one);
  }
  g.fence();
  // Every rank replays every rank's moves: the exact count of each bin.
  std::vector<std::int64_t> expected(bins, 0);
  for (int r = 0; r < rt.size(); ++r) {
    std::mt19937_64 replay(7 + static_cast<unsigned>(r));
    for (int k = 0; k < per_rank; ++k) ++expected[replay() % bins];
  }
  std::vector<std::int64_t> got(bins);
  g.get(0, bins, got);
  EXPECT_EQ(std::accumulate(got.begin(), got.end(), std::int64_t{0}), std::int64_t{per_rank} * rt.size());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(lagoon::reduce(rt, g, std::int64_t{0}, std::plus<>{}), std::int64_t{per_rank} * rt.size());
}

TEST_F(GlobalArrayTest, AccumulateOfRangesAndFloatingPointIsExact) {
  auto& rt = runtime();
  const std::size_t rows = 301, cols = 7;
  lagoon::GlobalArray<double> g(rt, {rows, cols});
  lagoon::GlobalArray<float> h(rt, {rows});
  std::vector<double> all(rows * cols);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = 0.25 * static_cast<double>(i % 5);
  std::vector<float> halves(rows, 0.5f);
  for (int k = 0; k < 5; ++k) {
    g.accumulate(0, rows, all);                                    // spans every node
    g.accumulate(rows / 3, rows / 3 + 2, std::span(all).first(2 * cols));
    h.accumulate(0, rows, halves);
  }
  g.fence();
  std::vector<double> got(rows * cols);
  g.get(0, rows, got);
  for (std::size_t i = 0; i < got.size(); ++i) {
    double want = 5.0 * rt.size() * all[i];
    const std::size_t row = i / cols;
    if (row >= rows / 3 && row < rows / 3 + 2) want += 5.0 * rt.size() * all[i - (rows / 3) * cols];
    ASSERT_EQ(got[i], want) << "element " << i;
  }
  std::vector<float> hs(rows);
  h.get(0, rows, hs);
  for (float x : hs) ASSERT_EQ(x, 2.5f * static_cast<float>(rt.size()));
}

TEST_F(GlobalArrayTest, RequestsFromSeveralThreadsOfOneRankDoNotMix) {
  auto& rt = runtime();
  const std::size_t rows = 64, cols = 100;
  lagoon::GlobalArray<std::int64_t> known(rt, {rows, cols});
  lagoon::GlobalArray<std::int64_t> counts(rt, {rows});
  const std::size_t first = known.local_rows().empty() ? 0 : known.local_rows().front();
  auto local = known.local();
  for (auto i : lagoon::node_share(rt, local.size())) local[i] = static_cast<std::int64_t>(first * cols + i);
  known.fence();
  const int threads = 3, per_thread = 2000;
  std::vector<int> wrong(threads, 0);
  if (rt.rank() == 0) {
    std::vector<std::thread> team;
    for (int t = 0; t < threads; ++t)
      team.emplace_back([&, t] {
        std::mt19937_64 rng(99 + static_cast<unsigned>(t));
        std::vector<std::int64_t> row(cols);
        const std::int64_t one[1] = {1};
        for (int k = 0; k < per_thread; ++k) {
          const std::size_t r = rng() % rows;
          counts.accumulate(r, r + 1, one);
          if (k % 10 == 0) {
            known.get(r, r + 1, row);
            for (std::size_t c = 0; c < cols; ++c) wrong[t] += row[c] != static_cast<std::int64_t>(r * cols + c);
          }
        }
      });
    for (auto& member : team) member.join();
  }
  counts.fence();
  for (int t = 0; t < threads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t << " read another request's rows";
  EXPECT_EQ(lagoon::reduce(rt, counts, std::int64_t{0}, std::plus<>{}), std::int64_t{threads} * per_thread);
}

TEST_F(GlobalArrayTest, AGetCompletesWhileTheOwnerComputes) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  const std::size_t rows = 100;
  lagoon::GlobalArray<double> g(rt, {rows, 16});
  const int owner = rt.node_count() - 1;
  for (auto r : lagoon::node_share(rt, g.local().size())) g.local()[r] = 3.0;
  g.fence();
  const double busy_for = 2.0;
  double waited = -1.0;
  if (rt.node() == owner) {
    // Compute without calling MPI (or lagoon) for busy_for seconds.
    const auto start = Clock::now();
    volatile double x = 1.0;
    while (seconds_since(start) < busy_for) x = std::sqrt(x + 1.0);
  } else if (rt.rank() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the owner is computing by now
    std::vector<double> out(16);
    const auto start = Clock::now();
    const std::size_t row = g.rows_of(owner).front();
    g.get(row, row + 1, out);
    waited = seconds_since(start);
    EXPECT_EQ(out, std::vector<double>(16, 3.0));
    std::vector<double> in(16, 5.0);
    g.put(row, row + 1, in);
    std::printf("    get from a computing owner took %.1f ms (the owner computes for %.0f ms)\n", waited * 1e3,
                busy_for * 1e3);
    EXPECT_LT(waited, 0.25 * busy_for) << "the get waited for the owner to call MPI";
  }
  g.fence();
  if (rt.node() == owner) {
    const std::size_t row = g.rows_of(owner).front();
    EXPECT_EQ(g.local()[(row - g.local_rows().front()) * 16], 5.0);
  }
}

TEST_F(GlobalArrayTest, AnIdleServiceCostsNoCore) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {1000});  // the transport (when several nodes) is running
  std::vector<double> row(1);
  g.get(999, 1000, row);                       // and recently busy
  rt.barrier();
  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double share = (cpu_seconds() - cpu_before) / seconds_since(start);
  if (rt.is_node_leader()) std::printf("    node %d leader: %.2f%% of a core while idle\n", rt.node(), share * 100);
  EXPECT_LT(share, 0.05) << "an idle process (with its service thread) must not spin";
  rt.barrier();
}

TEST_F(GlobalArrayTest, AlgorithmsVisitEachElementOnceOnItsOwner) {
  auto& rt = runtime();
  const std::size_t rows = 5003;
  lagoon::GlobalArray<std::int32_t> g(rt, {rows, 3});
  lagoon::for_each(rt, g, [](std::int32_t& x) { x += 1; });
  EXPECT_EQ(lagoon::reduce(rt, g, std::int64_t{0}, std::plus<>{}), static_cast<std::int64_t>(rows * 3));
  std::vector<std::int32_t> all(rows * 3);
  g.get(0, rows, all);
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], 1) << "element " << i;
  const auto biggest = lagoon::reduce(rt, g, std::int32_t{0}, [](std::int32_t a, std::int32_t b) { return std::max(a, b); });
  EXPECT_EQ(biggest, 1);
}

TEST_F(GlobalArrayTest, MoreNodesThanRowsLeavesSomeBlocksEmpty) {
  auto& rt = runtime();
  lagoon::GlobalArray<std::int16_t> g(rt, {1, 4});
  std::vector<std::int16_t> in{1, 2, 3, 4}, out(4);
  if (rt.rank() == rt.size() - 1) g.put(0, 1, in);
  g.fence();
  g.get(0, 1, out);
  EXPECT_EQ(out, in);
  std::vector<std::int16_t> none;
  g.get(1, 1, none);  // an empty range at the end is fine
  g.fence();
}

TEST_F(GlobalArrayTest, BadRangesAndBuffersThrowAndWriteNothing) {
  auto& rt = runtime();
  const std::size_t rows = 40;
  lagoon::GlobalArray<double> g(rt, {rows, 2});
  std::vector<double> two_rows(4, 9.0), wrong(3, 9.0);
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.get(39, 41, two_rows); }, "rows [39, 41) are not a range"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.put(39, 41, two_rows); }, "of the array's 40 rows"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.accumulate(5, 3, two_rows); }, "rows [5, 3)"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.put(0, 2, wrong); }, "the buffer holds 3 elements"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.accumulate(rows - 2, rows, wrong); }, "are 4"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.get(0, 2, wrong); }, "world rank"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { (void)g.owner_node(rows); }, "has 40 rows"));
  g.fence();
  std::vector<double> all(rows * 2, -1.0);
  g.get(0, rows, all);
  for (double x : all) ASSERT_EQ(x, 0.0) << "a rejected call wrote something";
  EXPECT_EQ(wrong, std::vector<double>(3, 9.0)) << "a rejected get wrote into its buffer";
}

TEST_F(GlobalArrayTest, DifferentShapesOrAnEmptyShapeThrowOnEveryRank) {
  auto& rt = runtime();
  const std::size_t rows = rt.rank() == rt.size() - 1 ? 11 : 10;
  if (rt.size() > 1) {
    EXPECT_TRUE(throws<lagoon::ShapeError>([&] { lagoon::GlobalArray<int> g(rt, {rows, 2}); },
                                           "every rank must pass the same shape"));
  }
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { lagoon::GlobalArray<int> g(rt, std::vector<std::size_t>{}); },
                                         "at least one dimension"));
}

TEST_F(GlobalArrayTest, UseAfterItsRuntimeIsGoneThrows) {
  auto& rt = runtime();
  auto sub = std::make_unique<lagoon::Runtime>(rt.world());
  lagoon::GlobalArray<double> g(*sub, {16, 2});
  std::vector<double> row(2);
  g.get(15, 16, row);
  sub.reset();
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { g.get(15, 16, row); }, "lagoon::GlobalArray<double>"));
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { g.put(0, 1, row); }, "destroyed"));
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { g.accumulate(0, 1, row); }, "destroyed"));
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { g.fence(); }, "destroyed"));
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { (void)g.local(); }, "destroyed"));
}  // g's destructor runs after its runtime: nothing to free, no crash

}  // namespace
