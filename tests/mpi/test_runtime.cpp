// Runtime: the world, node and leader communicators, the rank-to-node map,
// virtual nodes, adoption of a communicator, and settings read once.
#include <cstdlib>
#include <exception>
#include <numeric>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;

class RuntimeTest : public lagoon::testing::MpiTest {};

int expected_ranks_per_node() {
  const char* k = std::getenv("LAGOON_RANKS_PER_NODE");
  return k ? std::atoi(k) : 0;
}

TEST_F(RuntimeTest, WorldIsMpiWorld) {
  auto& rt = runtime();
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(rt.rank(), rank);
  EXPECT_EQ(rt.size(), size);
}

TEST_F(RuntimeTest, NodeMapIsConsistent) {
  auto& rt = runtime();
  EXPECT_EQ(rt.node_of(rt.rank()), rt.node());
  EXPECT_GE(rt.node(), 0);
  EXPECT_LT(rt.node(), rt.node_count());
  EXPECT_EQ(rt.is_node_leader(), rt.node_rank() == 0);
  EXPECT_EQ(rt.node_of(rt.leader_of(rt.node())), rt.node());

  // Every rank agrees on the whole map, and node sizes add up to the world.
  std::vector<int> sizes(static_cast<std::size_t>(rt.node_count()), 0);
  for (int r = 0; r < rt.size(); ++r) ++sizes[static_cast<std::size_t>(rt.node_of(r))];
  EXPECT_EQ(sizes[static_cast<std::size_t>(rt.node())], rt.node_size());
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), 0), rt.size());
  std::vector<int> mine(static_cast<std::size_t>(rt.size()));
  for (int r = 0; r < rt.size(); ++r) mine[static_cast<std::size_t>(r)] = rt.node_of(r);
  std::vector<int> root = mine;
  MPI_Bcast(root.data(), rt.size(), MPI_INT, 0, rt.world());
  EXPECT_EQ(mine, root);
}

TEST_F(RuntimeTest, VirtualNodesHoldConsecutiveRanks) {
  auto& rt = runtime();
  const int k = expected_ranks_per_node();
  if (k <= 0) GTEST_SKIP() << "LAGOON_RANKS_PER_NODE is not set";
  EXPECT_EQ(rt.settings().ranks_per_node, k);
  EXPECT_EQ(rt.node_count(), (rt.size() + k - 1) / k);  // one real node here
  EXPECT_EQ(rt.node(), rt.rank() / k);
  EXPECT_EQ(rt.node_rank(), rt.rank() % k);
}

TEST_F(RuntimeTest, LeaderCommunicatorOnlyOnLeaders) {
  auto& rt = runtime();
  if (rt.is_node_leader()) {
    ASSERT_FALSE(rt.leader_comm().is_null());
    EXPECT_EQ(rt.leader_comm().size(), rt.node_count());
    EXPECT_EQ(rt.leader_comm().rank(), rt.node());
  } else {
    EXPECT_EQ(static_cast<MPI_Comm>(rt.leader_comm()), MPI_COMM_NULL);
  }
}

TEST_F(RuntimeTest, CommunicatorsWorkInPlainMpiCalls) {
  auto& rt = runtime();
  int one = 1;
  int world_sum = 0;
  int node_sum = 0;
  MPI_Allreduce(&one, &world_sum, 1, MPI_INT, MPI_SUM, rt.world());
  MPI_Allreduce(&one, &node_sum, 1, MPI_INT, MPI_SUM, rt.node_comm());
  EXPECT_EQ(world_sum, rt.size());
  EXPECT_EQ(node_sum, rt.node_size());
}

TEST_F(RuntimeTest, AdoptsAnExistingCommunicator) {
  auto& rt = runtime();
  // The even and the odd ranks each run their own lagoon.
  MPI_Comm half = MPI_COMM_NULL;
  MPI_Comm_split(rt.world(), rt.rank() % 2, rt.rank(), &half);
  {
    lagoon::Runtime sub(half);
    EXPECT_EQ(sub.size(), (rt.size() + 1 - rt.rank() % 2) / 2);
    EXPECT_EQ(sub.rank(), rt.rank() / 2);
    lagoon::SharedArray<int> a(sub, {5});
    if (sub.is_node_leader()) a[4] = 7;
    a.publish(0);
    EXPECT_EQ(a[4], 7);
  }
  int finalized = 1;
  MPI_Finalized(&finalized);
  EXPECT_FALSE(finalized) << "a Runtime that adopted a communicator must not finalize MPI";
  MPI_Comm_free(&half);
}

TEST_F(RuntimeTest, BadSettingThrowsOnEveryRank) {
  auto& rt = runtime();
  const char* old = std::getenv("LAGOON_RANKS_PER_NODE");
  const std::string saved = old ? old : "";
  if (rt.rank() == 0) setenv("LAGOON_RANKS_PER_NODE", "zero", 1);  // read on world rank 0 only
  const std::terminate_handler mine = +[] { std::abort(); };
  const std::terminate_handler previous = std::set_terminate(mine);
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { lagoon::Runtime bad(rt.world()); }, "LAGOON_RANKS_PER_NODE=zero"));
  EXPECT_EQ(std::get_terminate(), mine) << "a Runtime that failed to start must leave the terminate handler alone";
  std::set_terminate(previous);
  if (saved.empty())
    unsetenv("LAGOON_RANKS_PER_NODE");
  else
    setenv("LAGOON_RANKS_PER_NODE", saved.c_str(), 1);
}

TEST_F(RuntimeTest, ReportsWhereSharedMemoryLives) {
  auto& rt = runtime();
  EXPECT_FALSE(rt.settings().shm_dir.empty());
  EXPECT_GE(rt.settings().max_message_bytes, 1u);
  EXPECT_LE(rt.settings().max_message_bytes, lagoon::mpi::max_message_bytes);
}

TEST_F(RuntimeTest, ArrayOutlivingItsRuntimeThrowsInsteadOfCrashing) {
  auto& rt = runtime();
  auto sub = std::make_unique<lagoon::Runtime>(rt.world());
  lagoon::SharedArray<double> a(*sub, {16});
  a.span()[0] = 1.0;
  sub.reset();  // frees the window, as MPI_Finalize would need
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { (void)a.data(); }, "used after its lagoon::Runtime was destroyed"));
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { a.fence(); }, "lagoon::SharedArray<double>"));
  EXPECT_TRUE(throws<lagoon::RuntimeFinalized>([&] { a.publish(0); }, "destroyed"));
}  // a's destructor runs after its runtime: nothing to free, no crash

}  // namespace
