// SharedArray: shape and zero fill, one copy per node seen by all its ranks
// after fence(), publish() from any root, alignment, and moves.
#include <cstdint>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;

class SharedArrayTest : public lagoon::testing::MpiTest {};

std::uint64_t pattern(std::size_t i, int tag) { return (static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull) ^ tag; }

TEST_F(SharedArrayTest, ShapedAndZeroFilled) {
  auto& rt = runtime();
  lagoon::SharedArray<double> a(rt, {3, 5, 7});
  EXPECT_EQ(a.shape(), (std::vector<std::size_t>{3, 5, 7}));
  EXPECT_EQ(a.ndim(), 3u);
  EXPECT_EQ(a.size(), 105u);
  EXPECT_EQ(a.bytes(), 105 * sizeof(double));
  for (double x : a.span()) ASSERT_EQ(x, 0.0);

  lagoon::SharedArray<std::uint8_t> big(rt, {(std::size_t{64} << 20) + 3});  // pages populated by several ranks
  std::size_t nonzero = 0;
  for (auto x : big.span()) nonzero += x != 0;
  EXPECT_EQ(nonzero, 0u);
}

TEST_F(SharedArrayTest, ZeroFilledEvenWhereMemoryIsReused) {
  auto& rt = runtime();
  for (int round = 0; round < 3; ++round) {
    for (std::size_t n : {std::size_t{3}, std::size_t{16}, std::size_t{1000}, std::size_t{40000}}) {
      lagoon::SharedArray<std::uint64_t> a(rt, {n});
      std::size_t nonzero = 0;
      for (auto x : a.span()) nonzero += x != 0;
      EXPECT_EQ(nonzero, 0u) << "n=" << n << " round " << round;
      a.fence();
      for (auto i : lagoon::node_share(rt, n)) a[i] = ~std::uint64_t{0};  // garbage for the next array to reuse
      a.fence();
    }
  }
}

TEST_F(SharedArrayTest, RowMajorIndexing) {
  auto& rt = runtime();
  lagoon::SharedArray<int> a(rt, {4, 6});
  lagoon::SharedArray<int> c(rt, {2, 3, 4});
  EXPECT_EQ(&a(2, 5), a.data() + 2 * 6 + 5);
  EXPECT_EQ(&c(1, 2, 3), c.data() + (1 * 3 + 2) * 4 + 3);
  EXPECT_EQ(&a[7], a.data() + 7);
}

TEST_F(SharedArrayTest, EveryRankSeesEveryWriteOfItsNodeAfterFence) {
  auto& rt = runtime();
  const std::size_t n = 100003;
  lagoon::SharedArray<std::uint64_t> a(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) a[i] = pattern(i, rt.node_rank());
  a.fence();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // The node rank that wrote i, by the same split node_share uses.
    int writer = 0;
    while (lagoon::detail::share_bounds(n, rt.node_size(), writer).second <= i) ++writer;
    wrong += a[i] != pattern(i, writer);
  }
  EXPECT_EQ(wrong, 0u);
}

TEST_F(SharedArrayTest, OneCopyPerNode) {
  auto& rt = runtime();
  lagoon::SharedArray<int> a(rt, {8});
  // Same node: same bytes. Other nodes: other bytes (a write on one is not seen on another).
  if (rt.is_node_leader()) a[0] = rt.node() + 1;
  a.fence();
  EXPECT_EQ(a[0], rt.node() + 1);
}

TEST_F(SharedArrayTest, PublishCopiesTheRootNodeToEveryNode) {
  auto& rt = runtime();
  const std::size_t n = 250001;
  lagoon::SharedArray<std::uint64_t> a(rt, {n});
  for (int root : {0, rt.size() - 1, rt.size() / 2}) {
    const int tag = 17 + root;
    a.fence();  // the previous round's checks are done before anyone writes again
    // The root's node writes the pattern; the other nodes write garbage that must disappear.
    for (auto i : lagoon::node_share(rt, n)) a[i] = rt.node() == rt.node_of(root) ? pattern(i, tag) : ~std::uint64_t{0};
    a.publish(root);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i) wrong += a[i] != pattern(i, tag);
    EXPECT_EQ(wrong, 0u) << "root " << root;
  }
}

TEST_F(SharedArrayTest, DataIsAligned) {
  struct alignas(256) Wide {
    double x[4];
  };
  auto& rt = runtime();
  lagoon::SharedArray<double> a(rt, {10});
  lagoon::SharedArray<Wide> w(rt, {3});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w.data()) % 256, 0u);
}

TEST_F(SharedArrayTest, EmptyArrayIsFine) {
  auto& rt = runtime();
  lagoon::SharedArray<float> a(rt, {0, 4});
  EXPECT_EQ(a.size(), 0u);
  EXPECT_TRUE(a.span().empty());
  a.fence();
  a.publish(0);
}

TEST_F(SharedArrayTest, MovesKeepTheData) {
  auto& rt = runtime();
  lagoon::SharedArray<int> a(rt, {4});
  if (rt.is_node_leader()) a[3] = 42;
  a.fence();
  lagoon::SharedArray<int> b = std::move(a);
  EXPECT_EQ(b[3], 42);
  lagoon::SharedArray<int> c(rt, {2});
  c = std::move(b);  // c's own window is freed (collectively) first
  EXPECT_EQ(c[3], 42);
  EXPECT_EQ(c.size(), 4u);
}

}  // namespace
