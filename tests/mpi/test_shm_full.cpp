// A full shared-memory filesystem: run with LAGOON_SHM_DIR on a 64 MiB tmpfs.
// An array larger than the filesystem is refused up front; arrays of two nodes
// that each fit but together do not fail while their pages are populated. Both
// give OutOfMemory on every rank (never a SIGBUS later), and leave nothing behind.
#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::shm_entries;
using lagoon::testing::throws;

constexpr const char* kSmallDir = "/run/lagoon-test-small";

class ShmFullTest : public lagoon::testing::MpiTest {
 protected:
  void SetUp() override {
    if (runtime().settings().shm_dir != kSmallDir)
      GTEST_SKIP() << "needs LAGOON_SHM_DIR=" << kSmallDir << " (a 64 MiB tmpfs, mounted by CTest as root)";
  }
};

TEST_F(ShmFullTest, LargerThanTheFilesystemIsRefusedUpFront) {
  auto& rt = runtime();
  EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { lagoon::SharedArray<std::byte> a(rt, {std::size_t{100} << 20}); },
                                          std::string(kSmallDir) + " free"));
  lagoon::SharedArray<std::byte> ok(rt, {std::size_t{1} << 20});
  ok.publish(0);
}

TEST_F(ShmFullTest, NodesThatTogetherOverflowFailWhilePopulating) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two (virtual) nodes on one tmpfs";
  rt.barrier();
  const std::size_t before = rt.is_node_leader() ? shm_entries(rt) : 0;
  // Each node's leader sees room for 40 MiB; two nodes' 80 MiB cannot fit in 64 MiB.
  EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { lagoon::SharedArray<std::byte> a(rt, {std::size_t{40} << 20}); },
                                          "populating"));
  rt.barrier();
  if (rt.is_node_leader()) {
    EXPECT_EQ(shm_entries(rt), before) << "the failed arrays left files behind";
  }
  lagoon::SharedArray<std::byte> ok(rt, {std::size_t{8} << 20});  // the memory came back
  ok.publish(0);
  EXPECT_EQ(ok[ok.size() - 1], std::byte{0});
}

}  // namespace
