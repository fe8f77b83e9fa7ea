// Errors in collectives are agreed on: a bad shape, an impossible allocation
// or a bad root throws the same lagoon::Error subclass on every rank, and
// leaves nothing behind in shared memory.
#include <cstdint>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::shm_entries;
using lagoon::testing::throws;

class ErrorTest : public lagoon::testing::MpiTest {};

TEST_F(ErrorTest, ShapeWithoutDimensions) {
  auto& rt = runtime();
  const std::vector<std::size_t> none;
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { lagoon::SharedArray<double> a(rt, none); }, "at least one dimension"));
}

TEST_F(ErrorTest, ElementCountOverflows) {
  auto& rt = runtime();
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { lagoon::SharedArray<double> a(rt, {std::size_t{1} << 40, std::size_t{1} << 40}); },
                                         "overflows"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { lagoon::SharedArray<double> a(rt, {std::size_t{1} << 61}); }, "overflows"));
}

TEST_F(ErrorTest, RanksPassingDifferentShapes) {
  auto& rt = runtime();
  if (rt.size() == 1) GTEST_SKIP() << "needs two ranks";
  EXPECT_TRUE(throws<lagoon::ShapeError>(
      [&] { lagoon::SharedArray<int> a(rt, {static_cast<std::size_t>(10 + rt.rank())}); }, "same shape"));
}

TEST_F(ErrorTest, ErrorOnOneRankIsThrownOnAll) {
  auto& rt = runtime();
  if (rt.size() == 1) GTEST_SKIP() << "needs two ranks";
  // Only the last rank passes an empty shape: it raises, every other rank throws the same.
  const std::vector<std::size_t> shape = rt.rank() == rt.size() - 1 ? std::vector<std::size_t>{} : std::vector<std::size_t>{8};
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { lagoon::SharedArray<int> a(rt, shape); },
                                         rt.rank() == rt.size() - 1 ? "at least one dimension"
                                                                    : "raised on world rank " + std::to_string(rt.size() - 1)));
}

TEST_F(ErrorTest, AllocationLargerThanTheNodeHas) {
  auto& rt = runtime();
  const std::size_t before = rt.is_node_leader() ? shm_entries(rt) : 0;
  const std::size_t hundred_tib = std::size_t{100} << 40;
  EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { lagoon::SharedArray<double> a(rt, {hundred_tib / sizeof(double)}); },
                                          "needs 100.00 TiB of shared memory on node"));
  if (rt.is_node_leader()) {
    EXPECT_EQ(shm_entries(rt), before) << "a failed allocation left files in shared memory";
  }
  // The runtime is still usable.
  lagoon::SharedArray<double> ok(rt, {16});
  ok.publish(0);
  EXPECT_EQ(ok[15], 0.0);
}

TEST_F(ErrorTest, PublishWithABadRoot) {
  auto& rt = runtime();
  lagoon::SharedArray<int> a(rt, {4});
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { a.publish(-1); }, "root must be a world rank in [0, " + std::to_string(rt.size())));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { a.publish(rt.size()); }, "root must be a world rank"));
  if (rt.size() > 1) {
    EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { a.publish(rt.rank() % 2); }, "every rank must pass the same root"));
  }
  a.publish(0);  // still usable
}

TEST_F(ErrorTest, NothingLeaksIntoSharedMemory) {
  auto& rt = runtime();
  rt.barrier();
  const std::size_t before = rt.is_node_leader() ? shm_entries(rt) : 0;
  {
    lagoon::SharedArray<double> a(rt, {1 << 20});
    lagoon::SharedArray<char> b(rt, {12345});
  }
  rt.barrier();
  if (rt.is_node_leader()) {
    EXPECT_EQ(shm_entries(rt), before);
  }
}

}  // namespace
