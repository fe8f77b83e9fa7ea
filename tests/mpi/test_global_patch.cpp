// GlobalArray patches (NGA_Get/NGA_Put/NGA_Acc's [lo, hi) in every dimension): random
// patches of 1-, 2- and 3-d arrays against a serial model, lost-update-free
// accumulates, patches larger than a transport piece, and bad bounds (checked before
// anything moves).
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;

class GlobalPatchTest : public lagoon::testing::MpiTest {};

using Index = std::vector<std::size_t>;

/// Row-major offset of `at` in `shape`.
std::size_t offset_of(const Index& shape, const Index& at) {
  std::size_t offset = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) offset = offset * shape[d] + at[d];
  return offset;
}

/// Calls f(array_offset, patch_offset) for every element of [lo, hi), in row-major order.
template <class F>
void for_each_element(const Index& shape, const Index& lo, const Index& hi, F&& f) {
  std::size_t count = 1;
  for (std::size_t d = 0; d < shape.size(); ++d) count *= hi[d] - lo[d];
  if (count == 0) return;
  Index at(lo);
  for (std::size_t k = 0; k < count; ++k) {
    f(offset_of(shape, at), k);
    for (std::size_t d = shape.size(); d-- > 0;) {
      if (++at[d] < hi[d]) break;
      at[d] = lo[d];
    }
  }
}

/// A random patch of `shape`, sometimes empty in a dimension, sometimes whole.
std::pair<Index, Index> random_patch(std::mt19937_64& rng, const Index& shape) {
  Index lo(shape.size()), hi(shape.size());
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const auto pick = rng() % 8;
    if (pick == 0) {
      lo[d] = 0, hi[d] = shape[d];
    } else {
      lo[d] = rng() % (shape[d] + 1);
      hi[d] = rng() % (shape[d] + 1);
      if (lo[d] > hi[d]) std::swap(lo[d], hi[d]);
      if (pick == 1) hi[d] = lo[d];  // empty now and then
    }
  }
  return {lo, hi};
}

std::size_t patch_size(const Index& lo, const Index& hi) {
  std::size_t n = 1;
  for (std::size_t d = 0; d < lo.size(); ++d) n *= hi[d] - lo[d];
  return n;
}

void random_patches_match_a_serial_model(const Index& shape) {
  auto& rt = runtime();
  lagoon::GlobalArray<std::int32_t> g(rt, shape);
  std::size_t total = 1;
  for (auto e : shape) total *= e;
  std::vector<std::int32_t> model(total, 0);
  std::mt19937_64 shared_rng(11);                                     // the writers' moves, the same everywhere
  std::mt19937_64 own_rng(500 + static_cast<unsigned>(rt.rank()));  // this rank's reads
  for (int round = 0; round < 10; ++round) {
    const int writer = round % rt.size();
    for (int k = 0; k < 6; ++k) {
      const auto [lo, hi] = random_patch(shared_rng, shape);
      std::vector<std::int32_t> values(patch_size(lo, hi));
      for (auto& v : values) v = static_cast<std::int32_t>(shared_rng());
      for_each_element(shape, lo, hi, [&](std::size_t at, std::size_t k) { model[at] = values[k]; });
      if (rt.rank() == writer) g.put(lo, hi, values);
    }
    g.fence();
    for (int k = 0; k < 6; ++k) {
      const auto [lo, hi] = random_patch(own_rng, shape);
      std::vector<std::int32_t> out(patch_size(lo, hi), -7);
      g.get(lo, hi, out);
      for_each_element(shape, lo, hi, [&](std::size_t at, std::size_t k) {
        ASSERT_EQ(out[k], model[at]) << "round " << round << ", patch element " << k;
      });
    }
    g.fence();  // this round's reads end before the next round's writes
  }
  // And the whole array, read by rows, agrees with the model.
  std::vector<std::int32_t> all(total);
  g.get(0, shape[0], all);
  EXPECT_EQ(all, model);
}

TEST_F(GlobalPatchTest, RandomPatchesOfA2dArrayMatchASerialModel) { random_patches_match_a_serial_model({53, 17}); }
TEST_F(GlobalPatchTest, RandomPatchesOfA3dArrayMatchASerialModel) { random_patches_match_a_serial_model({23, 7, 5}); }
TEST_F(GlobalPatchTest, RandomPatchesOfA1dArrayMatchASerialModel) { random_patches_match_a_serial_model({101}); }
TEST_F(GlobalPatchTest, RandomPatchesOfA4dArrayMatchASerialModel) {
  random_patches_match_a_serial_model({9, 3, 4, 5});
}

TEST_F(GlobalPatchTest, BracedBoundsReachATileOnEveryNode) {
  auto& rt = runtime();
  const std::size_t rows = 64, cols = 48;
  lagoon::GlobalArray<double> g(rt, {rows, cols});
  for (auto r : g.local_rows())
    if (rt.node_rank() == 0)
      for (std::size_t c = 0; c < cols; ++c) g.local()[(r - g.local_rows().front()) * cols + c] = r * 1000.0 + c;
  g.fence();
  std::vector<double> tile(40 * 8);
  g.get({10, 20}, {50, 28}, tile);  // rows 10..49 span every node of a small job
  for (std::size_t r = 0; r < 40; ++r)
    for (std::size_t c = 0; c < 8; ++c) ASSERT_EQ(tile[r * 8 + c], (10.0 + r) * 1000.0 + 20.0 + c);
}

TEST_F(GlobalPatchTest, ConcurrentPatchAccumulatesLoseNoUpdate) {
  auto& rt = runtime();
  const Index shape{37, 29};
  lagoon::GlobalArray<std::int64_t> g(rt, shape);
  auto moves = [&](int rank, auto&& f) {
    std::mt19937_64 rng(90 + static_cast<unsigned>(rank));
    for (int k = 0; k < 200; ++k) {
      const auto [lo, hi] = random_patch(rng, shape);
      f(lo, hi, static_cast<std::int64_t>(rng() % 5) + 1);
    }
  };
  moves(rt.rank(), [&](const Index& lo, const Index& hi, std::int64_t v) {
    const std::vector<std::int64_t> in(patch_size(lo, hi), v);
    g.accumulate(lo, hi, in);
  });
  g.fence();
  std::vector<std::int64_t> expected(shape[0] * shape[1], 0);
  for (int r = 0; r < rt.size(); ++r)
    moves(r, [&](const Index& lo, const Index& hi, std::int64_t v) {
      for_each_element(shape, lo, hi, [&](std::size_t at, std::size_t) { expected[at] += v; });
    });
  std::vector<std::int64_t> got(expected.size());
  g.get({0, 0}, {shape[0], shape[1]}, got);
  EXPECT_EQ(got, expected);
}

TEST_F(GlobalPatchTest, APatchLargerThanATransportPieceRoundTrips) {
  auto& rt = runtime();
  // Rows of 1,000 doubles; the patch leaves out the first and last column, so its parts
  // are gathered and scattered run by run, over several 4 MiB pieces.
  const std::size_t rows = 1500, cols = 1000;
  lagoon::GlobalArray<double> g(rt, {rows, cols});
  const Index lo{3, 1}, hi{rows - 2, cols - 1};
  std::vector<double> in(patch_size(lo, hi));
  std::iota(in.begin(), in.end(), 0.5);
  if (rt.rank() == rt.size() - 1) g.put(lo, hi, in);
  g.fence();
  if (rt.rank() == 0) g.accumulate(lo, hi, in);
  g.fence();
  std::vector<double> out(in.size());
  g.get(lo, hi, out);
  for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], 2 * in[i]) << "element " << i;
  std::vector<double> edge(rows);
  g.get({0, 0}, {rows, 1}, edge);  // the column left out stayed zero
  for (double x : edge) ASSERT_EQ(x, 0.0);
}

TEST_F(GlobalPatchTest, BadBoundsThrowShapeErrorAndMoveNothing) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {40, 6});
  std::vector<double> four(4, 9.0), five(5, 9.0);
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.get({5, 2}, {3, 4}, four); }, "[5, 3) is not a range of dimension 0"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.put({0, 2}, {2, 7}, four); }, "dimension 1's 6 indices"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.put({0, 2}, {41, 4}, four); }, "dimension 0's 40 indices"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.get({0}, {2}, four); }, "the bounds have 1 and 1 dimensions"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.accumulate({0, 0, 0}, {1, 1, 1}, four); }, "the array has 2"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.accumulate({38, 2}, {40, 4}, five); },
                                         "the buffer holds 5 elements; the patch has 4"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { g.get({0, 0}, {2, 2}, five); }, "world rank"));
  g.fence();
  std::vector<double> all(40 * 6, -1.0);
  g.get({0, 0}, {40, 6}, all);
  for (double x : all) ASSERT_EQ(x, 0.0) << "a rejected call wrote something";
  EXPECT_EQ(five, std::vector<double>(5, 9.0)) << "a rejected get wrote into its buffer";
}

}  // namespace
