// publish() of a 3 GiB array (beyond one MPI int count) between nodes: every
// rank of every node checks every element afterwards.
#include <cstdint>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;

class PublishLargeTest : public lagoon::testing::MpiTest {};

std::uint64_t value(std::size_t i) { return static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull + 1; }

TEST_F(PublishLargeTest, ThreeGiB) {
  auto& rt = runtime();
  const std::size_t n = ((std::size_t{3} << 30) + 8) / sizeof(std::uint64_t);  // 3 GiB and one element
  lagoon::SharedArray<std::uint64_t> a(rt, {n});
  const int root = rt.size() - 1;
  if (rt.node() == rt.node_of(root))
    for (auto i : lagoon::node_share(rt, n)) a[i] = value(i);
  a.publish(root);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += a[i] != value(i);
  EXPECT_EQ(wrong, 0u) << "on node " << rt.node();
}

}  // namespace
