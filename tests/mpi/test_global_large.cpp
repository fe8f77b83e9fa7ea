// A GlobalArray of 2.25 GiB (byte offsets past 2^31 in one node's block, replies of
// more than one message): a node's whole block fetched remotely, ranges across the
// node boundary, and puts at the far end.
#include <cstdint>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;

class GlobalLargeTest : public lagoon::testing::MpiTest {};

std::uint64_t value(std::size_t i) { return static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull + 3; }

TEST_F(GlobalLargeTest, TwoAndAQuarterGiB) {
  auto& rt = runtime();
  const std::size_t cols = 512;
  const std::size_t rows = (std::size_t{9} << 28) / (cols * sizeof(std::uint64_t));  // 2.25 GiB
  lagoon::GlobalArray<std::uint64_t> g(rt, {rows, cols});
  auto local = g.local();
  const std::size_t first = g.local_rows().front() * cols;
  for (auto i : lagoon::node_share(rt, local.size())) local[i] = value(first + i);
  g.fence();

  if (rt.rank() == 0) {
    // The last node's whole block, from wherever rank 0 is.
    const auto last = g.rows_of(rt.node_count() - 1);
    std::vector<std::uint64_t> block(last.size() * cols);
    g.get(last.front(), last.back() + 1, block);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < block.size(); ++i) wrong += block[i] != value(last.front() * cols + i);
    EXPECT_EQ(wrong, 0u) << "in the last node's block of " << block.size() * 8 << " bytes";

    // 64 MiB around the first node boundary (or the middle, on one node).
    const std::size_t middle = rt.node_count() > 1 ? g.rows_of(1).front() : rows / 2;
    const std::size_t span_rows = (std::size_t{64} << 20) / (cols * 8);
    std::vector<std::uint64_t> across(span_rows * cols);
    g.get(middle - span_rows / 2, middle + span_rows / 2, across);
    wrong = 0;
    for (std::size_t i = 0; i < across.size(); ++i) wrong += across[i] != value((middle - span_rows / 2) * cols + i);
    EXPECT_EQ(wrong, 0u) << "across row " << middle;

    std::vector<std::uint64_t> tail(2 * cols, 77);
    g.put(rows - 2, rows, tail);
    g.accumulate(rows - 1, rows, std::span<const std::uint64_t>(tail).first(cols));
  }
  g.fence();
  std::vector<std::uint64_t> end(2 * cols);
  g.get(rows - 2, rows, end);
  for (std::size_t i = 0; i < cols; ++i) ASSERT_EQ(end[i], 77u);
  for (std::size_t i = cols; i < 2 * cols; ++i) ASSERT_EQ(end[i], 154u);
}

}  // namespace
