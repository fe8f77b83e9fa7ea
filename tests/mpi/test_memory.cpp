// Zero-copy, measured: with k ranks on a node, a shared array of B bytes costs
// the node one copy (the sum of its ranks' PSS), not k copies.
#include <cstdint>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;

class MemoryTest : public lagoon::testing::MpiTest {};

TEST_F(MemoryTest, NodeHoldsOneCopy) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory grows PSS with every page read: this measures lagoon only without it";
#endif
  auto& rt = runtime();
  const std::size_t bytes = std::size_t{512} << 20;
  const std::size_t before = lagoon::memory_usage().pss;
  lagoon::SharedArray<std::uint8_t> a(rt, {bytes});
  for (auto i : lagoon::node_share(rt, bytes)) a[i] = static_cast<std::uint8_t>(i | 1);
  a.fence();
  // Every rank reads every page, so every rank maps the whole array.
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes; i += 4096) sum += a[i];
  // Measure once every rank of the node maps every page: a rank that measured while another
  // still read would count the pages only it had mapped yet whole (1.16 "copies" was seen).
  MPI_Barrier(rt.node_comm());
  const std::size_t after = lagoon::memory_usage().pss;
  const auto grew = static_cast<long long>(after) - static_cast<long long>(before);
  long long node_total = 0;
  MPI_Allreduce(&grew, &node_total, 1, MPI_LONG_LONG, MPI_SUM, rt.node_comm());
  const double copies = static_cast<double>(node_total) / static_cast<double>(bytes);
  if (rt.rank() == 0)
    std::printf("    node of %d ranks: PSS grew by %s for a %s array (%.3f copies; private copies would be %d)\n",
                rt.node_size(), lagoon::format_bytes(static_cast<double>(node_total)).c_str(),
                lagoon::format_bytes(static_cast<double>(bytes)).c_str(), copies, rt.node_size());
  const long long per_rank_overhead = 16ll << 20;
  EXPECT_LT(node_total, static_cast<long long>(1.1 * static_cast<double>(bytes)) + rt.node_size() * per_rank_overhead);
  EXPECT_GT(node_total, static_cast<long long>(0.9 * static_cast<double>(bytes))) << "the array is not resident";
  EXPECT_GT(sum, 0u);
}

}  // namespace
