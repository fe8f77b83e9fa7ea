// SharedMap: set/get/contains/erase/size seen by every rank of every node, atomic
// update under contention (no update lost), a full arena, a corrupt value.
#include <boost/serialization/split_member.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "skewed.hpp"
#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;

class SharedMapTest : public lagoon::testing::MpiTest {};

struct Row {
  std::string name;
  std::vector<double> values;
  long count = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& values& count;
  }
  friend bool operator==(const Row&, const Row&) = default;
};

Row row_of(int i) {
  return Row{"row" + std::to_string(i), std::vector<double>(static_cast<std::size_t>(std::abs(i) % 7), i * 0.5), i};
}

TEST_F(SharedMapTest, WhatAnyRankSetsEveryRankOfEveryNodeReads) {
  auto& rt = runtime();
  lagoon::SharedMap<std::string, Row> m(rt, 4u << 20);
  const int per_rank = 50;
  for (int i = 0; i < per_rank; ++i) {
    const int k = rt.rank() * per_rank + i;
    m.set("key" + std::to_string(k), row_of(k));
  }
  rt.barrier();
  const int total = rt.size() * per_rank;
  EXPECT_EQ(m.size(), static_cast<std::size_t>(total));
  for (int k = 0; k < total; ++k) {
    const auto v = m.get("key" + std::to_string(k));
    ASSERT_TRUE(v.has_value()) << k;
    EXPECT_EQ(*v, row_of(k));
  }
  EXPECT_FALSE(m.get("absent").has_value());
  EXPECT_FALSE(m.contains("absent"));
  EXPECT_TRUE(m.contains("key0"));
  rt.barrier();
  // Each rank erases its own keys; overwrites and erasures are seen everywhere.
  for (int i = 0; i < per_rank; ++i) {
    const int k = rt.rank() * per_rank + i;
    if (i % 2 == 0) {
      EXPECT_TRUE(m.erase("key" + std::to_string(k)));
      EXPECT_FALSE(m.erase("key" + std::to_string(k)));
    } else {
      m.set("key" + std::to_string(k), row_of(-k));
    }
  }
  rt.barrier();
  EXPECT_EQ(m.size(), static_cast<std::size_t>(total / 2));
  for (int k = 0; k < total; ++k) {
    const auto v = m.get("key" + std::to_string(k));
    if ((k % per_rank) % 2 == 0) {
      EXPECT_FALSE(v.has_value()) << k;
    } else {
      ASSERT_TRUE(v.has_value()) << k;
      EXPECT_EQ(*v, row_of(-k));
    }
  }
  rt.barrier();
}

TEST_F(SharedMapTest, ItemsAndKeysMatchASerialModelAfterConcurrentSetsAndErases) {
  auto& rt = runtime();
  lagoon::SharedMap<std::string, std::vector<int>> m(rt);
  // Every rank sets its own keys, erases some of them and some of its neighbour's
  // (already set: a barrier in between), all at once.
  auto key = [](int rank, int k) { return std::string("r").append(std::to_string(rank)).append("/k").append(std::to_string(k)); };
  constexpr int kKeys = 60;
  for (int k = 0; k < kKeys; ++k) m.set(key(rt.rank(), k), std::vector<int>(static_cast<std::size_t>(k % 5), rt.rank()));
  rt.barrier();
  const int neighbour = (rt.rank() + 1) % rt.size();
  for (int k = 0; k < kKeys; k += 3) m.erase(key(rt.rank(), k));
  for (int k = 1; k < kKeys; k += 7) m.erase(key(neighbour, k));
  rt.barrier();
  // The serial model: every rank's moves, replayed.
  std::map<std::string, std::vector<int>> model;
  for (int r = 0; r < rt.size(); ++r)
    for (int k = 0; k < kKeys; ++k) model[key(r, k)] = std::vector<int>(static_cast<std::size_t>(k % 5), r);
  for (int r = 0; r < rt.size(); ++r) {
    for (int k = 0; k < kKeys; k += 3) model.erase(key(r, k));
    for (int k = 1; k < kKeys; k += 7) model.erase(key((r + 1) % rt.size(), k));
  }
  auto items = m.items();
  std::map<std::string, std::vector<int>> got(items.begin(), items.end());
  EXPECT_EQ(items.size(), got.size()) << "a key came twice";
  EXPECT_EQ(got, model);
  auto keys = m.keys();
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> expected;
  for (const auto& [k, v] : model) expected.push_back(k);
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(m.size(), model.size());
  rt.barrier();
}

TEST_F(SharedMapTest, UpdateIsAtomicNoIncrementIsLost) {
  auto& rt = runtime();
  lagoon::SharedMap<std::string, long> m(rt, 1u << 20);
  const long n = 10'000;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    m.update("counter", [](std::optional<long> old) { return old.value_or(0) + 1; });
    if (i % 10 == 0)
      m.update("rank" + std::to_string(rt.rank()), [](std::optional<long> old) { return old.value_or(0) + 10; });
  }
  rt.barrier();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(m.get("counter"), n * rt.size());
  for (int r = 0; r < rt.size(); ++r) EXPECT_EQ(m.get("rank" + std::to_string(r)), n);
  if (rt.rank() == 0)
    std::printf("    [measured] %d ranks on %d node(s): %ld updates each of one counter, all done in %.2f s\n",
                rt.size(), rt.node_count(), n, seconds);
  rt.barrier();
}

TEST_F(SharedMapTest, AValueTooLargeForItsNodeIsOutOfMemoryAndTheMapGoesOn) {
  auto& rt = runtime();
  lagoon::SharedMap<int, std::vector<char>> m(rt, 256u << 10);
  if (rt.rank() == rt.size() - 1) {
    for (int k = 0; k < 2 * rt.node_count(); ++k) {  // keys on every node
      EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { m.set(k, std::vector<char>(1u << 20, 'x')); }, "cannot hold"));
    }
    m.set(1, std::vector<char>(1000, 'y'));
    EXPECT_EQ(m.get(1)->size(), 1000u);
    EXPECT_FALSE(m.contains(0));
  }
  rt.barrier();
}

using lagoon::testing::Skewed;

TEST_F(SharedMapTest, ACorruptValueIsADeserializeError) {
  auto& rt = runtime();
  lagoon::SharedMap<int, Skewed> m(rt, 1u << 20);
  if (rt.rank() == 0)
    for (int k = 0; k < 4; ++k) m.set(k, Skewed{});
  rt.barrier();
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(m.contains(k));
    EXPECT_TRUE(throws<lagoon::DeserializeError>([&] { (void)m.get(k); }, "corrupt or truncated"));
  }
  rt.barrier();
}

}  // namespace
