// share / reduce / for_each: owner computes, each element visited by exactly
// one rank in the world, the same result on every rank, errors agreed on.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;

class AlgorithmTest : public lagoon::testing::MpiTest {};

struct Point {
  double x;
  double y;
};

/// Per-centroid sums of points, as one k-means step needs them.
struct CentroidSums {
  double sx[3];
  double sy[3];
  std::int64_t n[3];
  CentroidSums& operator+=(const CentroidSums& o) {
    for (int c = 0; c < 3; ++c) {
      sx[c] += o.sx[c];
      sy[c] += o.sy[c];
      n[c] += o.n[c];
    }
    return *this;
  }
};

int nearest(const Point& p) { return p.x < 1.5 ? 0 : (p.x < 4.5 ? 1 : 2); }  // centroids at x = 0, 3, 6

TEST_F(AlgorithmTest, TransformReduceAndAllreduceGiveKMeansSumsExactly) {
  auto& rt = runtime();
  const std::size_t n = 30001;
  lagoon::SharedArray<Point> points(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) points[i] = Point{static_cast<double>(i % 7), static_cast<double>(i % 11)};
  points.fence();
  auto add = [](CentroidSums a, const CentroidSums& b) { return a += b; };
  const auto one = [](const Point& p) {
    CentroidSums s{};
    const int c = nearest(p);
    s.sx[c] = p.x;
    s.sy[c] = p.y;
    s.n[c] = 1;
    return s;
  };
  const CentroidSums sums = lagoon::transform_reduce(rt, points, CentroidSums{}, add, one);
  // A plain loop over this rank's share, then allreduce: the same sums.
  CentroidSums mine{};
  for (auto i : lagoon::share(rt, n)) mine += one(points[i]);
  const CentroidSums all = lagoon::allreduce(rt, mine, add);
  CentroidSums serial{};
  for (std::size_t i = 0; i < n; ++i) serial += one(Point{static_cast<double>(i % 7), static_cast<double>(i % 11)});
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(sums.n[c], serial.n[c]) << c;
    EXPECT_EQ(sums.sx[c], serial.sx[c]) << c;
    EXPECT_EQ(sums.sy[c], serial.sy[c]) << c;
    EXPECT_EQ(all.n[c], serial.n[c]) << c;
    EXPECT_EQ(all.sx[c], serial.sx[c]) << c;
    EXPECT_EQ(all.sy[c], serial.sy[c]) << c;
  }
  EXPECT_EQ(sums.n[0] + sums.n[1] + sums.n[2], static_cast<std::int64_t>(n));
  // On a GlobalArray: each element once, on its owner node.
  lagoon::GlobalArray<double> g(rt, {1000, 3});
  for (double& x : g.local()) x = 2.0;
  g.fence();
  EXPECT_EQ(lagoon::transform_reduce(rt, g, 0.0, std::plus<>{}, [](double x) { return x * x; }), 12000.0);
  // allreduce of a plain value: every rank's, in rank order.
  EXPECT_EQ(lagoon::allreduce(rt, rt.rank() + 1, std::plus<>{}), rt.size() * (rt.size() + 1) / 2);
}

TEST_F(AlgorithmTest, RowsOfAnNdArrayAreVisitedAndReducedOneRowAtATime) {
  auto& rt = runtime();
  const std::size_t n = 1001, k = 8;
  lagoon::SharedArray<float> a(rt, {n, k});
  for (auto i : lagoon::node_share(rt, a.size())) a[i] = static_cast<float>(i / k + 1);  // row r holds r + 1
  a.fence();
  // Each row divided by its sum: every node's copy gets every rank's rows.
  lagoon::for_each(rt, lagoon::rows(a), [](std::span<float> row) {
    float sum = 0;
    for (float x : row) sum += x;
    for (float& x : row) x /= sum;
  });
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < a.size(); ++i) wrong += a[i] != 1.0f / static_cast<float>(k);
  EXPECT_EQ(wrong, 0u) << "every row normalized, on every node";
  // The largest element of each row, summed over the rows (of the original values).
  lagoon::SharedArray<float> b(rt, {n, k});
  for (auto i : lagoon::node_share(rt, b.size())) b[i] = static_cast<float>(i % k + i / k);
  b.fence();
  const double maxima = lagoon::transform_reduce(rt, lagoon::rows(std::as_const(b)), 0.0, std::plus<>{},
                                                 [](std::span<const float> row) {
                                                   return static_cast<double>(*std::max_element(row.begin(), row.end()));
                                                 });
  double serial = 0;
  for (std::size_t r = 0; r < n; ++r) serial += static_cast<double>(k - 1 + r);
  EXPECT_EQ(maxima, serial);
  EXPECT_EQ(lagoon::rows(b).size(), n);
  EXPECT_EQ(lagoon::rows(b).row_size(), k);
}

TEST_F(AlgorithmTest, GatherBringsOneValuePerRankToTheRootInRankOrder) {
  auto& rt = runtime();
  struct Count {
    int rank;
    double x;
  };
  const int root = rt.size() - 1;
  const auto all = lagoon::gather(rt, Count{rt.rank(), 0.5 * rt.rank()}, root);
  if (rt.rank() == root) {
    ASSERT_EQ(all.size(), static_cast<std::size_t>(rt.size()));
    for (int r = 0; r < rt.size(); ++r) {
      EXPECT_EQ(all[static_cast<std::size_t>(r)].rank, r);
      EXPECT_EQ(all[static_cast<std::size_t>(r)].x, 0.5 * r);
    }
  } else {
    EXPECT_TRUE(all.empty());
  }
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)lagoon::gather(rt, 1, rt.size()); }, "not a world rank"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)lagoon::broadcast(rt, 1, -1); }, "not a world rank"));
}

TEST_F(AlgorithmTest, ShareCoversEachIndexOnceAndIsBalanced) {
  auto& rt = runtime();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{1000}, std::size_t{1001}}) {
    const auto mine = lagoon::share(rt, n);
    const std::uint64_t range[2] = {mine.empty() ? 0 : *mine.begin(), mine.size()};
    std::vector<std::uint64_t> all(2 * static_cast<std::size_t>(rt.size()));
    MPI_Allgather(range, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, rt.world());
    std::uint64_t next = 0;
    std::uint64_t low = n;
    std::uint64_t high = 0;
    for (int r = 0; r < rt.size(); ++r) {
      const auto begin = all[2 * r];
      const auto count = all[2 * r + 1];
      if (count > 0) {
        EXPECT_EQ(begin, next) << "rank " << r << " of n=" << n;
      }
      next += count;
      low = std::min(low, count);
      high = std::max(high, count);
    }
    EXPECT_EQ(next, n);
    EXPECT_LE(high - std::min(low, high), 1u) << "n=" << n;
  }
}

TEST_F(AlgorithmTest, ReduceSumsExactly) {
  auto& rt = runtime();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{123457}}) {
    lagoon::SharedArray<std::int64_t> a(rt, {n});
    for (auto i : lagoon::node_share(rt, n)) a[i] = static_cast<std::int64_t>(i) + 1;
    a.fence();
    const auto total = lagoon::reduce(rt, a, std::int64_t{5}, std::plus<>{});
    EXPECT_EQ(total, 5 + static_cast<std::int64_t>(n * (n + 1) / 2)) << "n=" << n;
  }
}

TEST_F(AlgorithmTest, ReduceWithOtherOperationsAndTypes) {
  auto& rt = runtime();
  const std::size_t n = 5000;
  lagoon::SharedArray<std::int32_t> a(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) a[i] = static_cast<std::int32_t>((i * 7919) % 100003);
  a.fence();
  std::int32_t expected_max = std::numeric_limits<std::int32_t>::min();
  std::int64_t expected_sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    expected_max = std::max(expected_max, a[i]);
    expected_sum += a[i];
  }
  EXPECT_EQ(lagoon::reduce(rt, a, std::numeric_limits<std::int32_t>::min(),
                           [](std::int32_t x, std::int32_t y) { return std::max(x, y); }),
            expected_max);
  EXPECT_EQ(lagoon::reduce(rt, a, std::int64_t{0}, std::plus<>{}), expected_sum);  // wider accumulator
}

TEST_F(AlgorithmTest, FloatingPointResultIsBitwiseTheSameOnEveryRank) {
  auto& rt = runtime();
  const std::size_t n = 99991;
  lagoon::SharedArray<double> a(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) a[i] = 1.0 / (1.0 + static_cast<double>(i));
  a.fence();
  const double total = lagoon::reduce(rt, a, 0.0, std::plus<>{});
  double root = total;
  MPI_Bcast(&root, 1, MPI_DOUBLE, 0, rt.world());
  EXPECT_EQ(std::memcmp(&root, &total, sizeof total), 0);
  EXPECT_NEAR(total, 12.0901, 1e-3);  // harmonic number H(99991)
}

TEST_F(AlgorithmTest, ForEachVisitsEachElementOnceAndEveryNodeSeesAll) {
  auto& rt = runtime();
  const std::size_t n = 77777;
  lagoon::SharedArray<std::int32_t> a(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) a[i] = static_cast<std::int32_t>(i);
  a.fence();
  int calls = 0;
  lagoon::for_each(rt, a, [&](std::int32_t& x) {
    x = 2 * x + 1;
    ++calls;
  });
  int total_calls = 0;
  MPI_Allreduce(&calls, &total_calls, 1, MPI_INT, MPI_SUM, rt.world());
  EXPECT_EQ(total_calls, static_cast<int>(n));
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += a[i] != static_cast<std::int32_t>(2 * i + 1);
  EXPECT_EQ(wrong, 0u) << "on node " << rt.node();
}

TEST_F(AlgorithmTest, AnExceptionOnOneRankIsThrownOnAll) {
  auto& rt = runtime();
  const std::size_t n = 1000;
  lagoon::SharedArray<int> a(rt, {n});
  const auto last = lagoon::detail::share_bounds(n, rt.size(), rt.size() - 1);
  const int poison = static_cast<int>(last.first) + 20;  // an element of the last rank's share
  for (auto i : lagoon::node_share(rt, n)) a[i] = static_cast<int>(i);
  a.fence();
  auto checked_plus = [poison](int x, int y) {
    if (y == poison) throw std::runtime_error("bad element");
    return x + y;
  };
  EXPECT_TRUE(throws<lagoon::Error>([&] { (void)lagoon::reduce(rt, a, 0, checked_plus); }, "bad element"));
  EXPECT_TRUE(throws<lagoon::Error>(
      [&] {
        lagoon::for_each(rt, a, [&](int& x) {
          if (x == poison) throw lagoon::InvalidArgument("element " + std::to_string(x) + " rejected");
        });
      },
      "rejected"));
}

}  // namespace
