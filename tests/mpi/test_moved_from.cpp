// Moved-from containers: a SharedArray, GlobalArray, ObjectStore and SharedMap that
// were moved from all behave alike. Their queries say they are empty, every other
// call throws InvalidArgument (no null dereference), and their destruction is a no-op,
// while the object moved into works on every node.
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;

class MovedFromTest : public lagoon::testing::MpiTest {};

TEST_F(MovedFromTest, SharedArray) {
  auto& rt = runtime();
  lagoon::SharedArray<double> a(rt, {8, 2});
  lagoon::SharedArray<double> b(std::move(a));
  EXPECT_TRUE(a.shape().empty());  // NOLINT(bugprone-use-after-move): what the test is about
  EXPECT_EQ(a.size(), 0u);
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)a.data(); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)a.span(); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { a.fence(); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { a.publish(0); }, "moved from"));
  if (rt.rank() == 0) b(7, 1) = 4.0;
  b.publish(0);
  EXPECT_EQ(b(7, 1), 4.0);
  a = lagoon::SharedArray<double>(rt, {3});  // a moved-from array takes a new one
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(a.span()[2], 0.0);
}

TEST_F(MovedFromTest, GlobalArray) {
  auto& rt = runtime();
  lagoon::GlobalArray<int> g(rt, {10, 3});
  lagoon::GlobalArray<int> h(std::move(g));
  EXPECT_TRUE(g.shape().empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(g.size(), 0u);
  EXPECT_TRUE(g.local_rows().empty());
  std::vector<int> row(3, 1);
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { g.get(0, 1, row); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { g.put(0, 1, row); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { g.accumulate(0, 1, row); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)g.local(); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)g.owner_node(0); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { g.fence(); }, "moved from"));
  h.accumulate(9, 10, row);  // the last row, on the last node
  h.fence();
  h.get(9, 10, row);
  EXPECT_EQ(row, std::vector<int>(3, rt.size()));
}

TEST_F(MovedFromTest, ObjectStore) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 1 << 20);
  lagoon::ObjectRef<std::string> ref;
  if (rt.rank() == rt.size() - 1) ref = store.put(std::string("kept"));
  ref = lagoon::broadcast(rt, ref, rt.size() - 1);
  lagoon::ObjectStore moved(std::move(store));
  EXPECT_EQ(store.capacity(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)store.get(ref); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)store.put(1.0); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)store.stats(); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { store.free(ref); }, "moved from"));
  EXPECT_EQ(moved.get(ref), "kept");  // the ref stays good in the store moved into
}

TEST_F(MovedFromTest, SharedMap) {
  auto& rt = runtime();
  lagoon::SharedMap<std::string, int> map(rt, 1 << 20);
  lagoon::SharedMap<std::string, int> moved(std::move(map));
  EXPECT_EQ(map.capacity(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { map.set("k", 1); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)map.get("k"); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)map.size(); }, "moved from"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { map.update("k", [](std::optional<int>) { return 1; }); },
                                              "moved from"));
  moved.update("k", [](std::optional<int> n) { return n.value_or(0) + 1; });
  rt.barrier();
  EXPECT_EQ(moved.get("k"), rt.size());
}

}  // namespace
