// ObjectStore: put on one rank, get on every rank of every node; zero-copy views
// inside the node arena, one transfer (and one copy) per node, cache hits; the
// serialized path; type mismatch, freed objects, a full arena, a corrupt archive.
#include <algorithm>
#include <bit>
#include <boost/serialization/map.hpp>
#include <boost/serialization/split_member.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "skewed.hpp"
#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;

class ObjectStoreTest : public lagoon::testing::MpiTest {};

constexpr std::size_t kArena = 64u << 20;

/// Rank `root`'s ref, on every rank.
template <class T>
lagoon::ObjectRef<T> broadcast(lagoon::ObjectRef<T> ref, int root = 0) {
  MPI_Bcast(&ref, sizeof ref, MPI_BYTE, root, runtime().world());
  return ref;
}

int count_over_node(bool flag) {
  int mine = flag ? 1 : 0, total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, runtime().node_comm());
  return total;
}

/// The world rank of node `n`'s first rank.
int first_rank_of(const lagoon::Runtime& rt, int n) {
  for (int r = 0; r < rt.size(); ++r)
    if (rt.node_of(r) == n) return r;
  return -1;
}

TEST_F(ObjectStoreTest, CreateFillSealIsReadOnEveryNodeAndInPlaceOnItsOwn) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 64 << 20);
  const std::size_t n = 1'000'003;
  // Every node makes one object, its ranks filling their shares in place.
  auto w = store.create<std::int64_t>(n);
  ASSERT_EQ(w.span().size(), n);
  EXPECT_TRUE(store.in_arena(w.span().data()));
  for (auto i : lagoon::node_share(rt, n)) w.span()[i] = static_cast<std::int64_t>(i) * 10 + rt.node();
  const auto mine = w.seal();
  EXPECT_TRUE(w.span().empty()) << "a sealed writer holds nothing";
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)w.seal(); }, "sealed already"));
  EXPECT_EQ(mine.owner_node(), rt.node());
  EXPECT_EQ(mine.bytes(), n * sizeof(std::int64_t));
  for (int node = 0; node < rt.node_count(); ++node) {
    const auto ref = lagoon::broadcast(rt, mine, first_rank_of(rt, node));
    auto v = store.get(ref);
    ASSERT_EQ(v.size(), n);
    for (std::size_t i = 0; i < n; i += 997) ASSERT_EQ(v[i], static_cast<std::int64_t>(i) * 10 + node) << i;
    EXPECT_EQ(v[n - 1], static_cast<std::int64_t>(n - 1) * 10 + node);
    if (node == rt.node()) {
      EXPECT_TRUE(v.owned_here());
      EXPECT_FALSE(v.fetched());
      EXPECT_TRUE(store.in_arena(v.data())) << "the node's own object is read where its ranks wrote it";
    }
  }
  rt.barrier();
  if (rt.node_rank() == rt.node_size() - 1) store.free(mine);  // any rank of the node frees a sealed object
  rt.barrier();
  EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)store.get(mine); }, "freed"));
}

/// The sum over this rank's node of every rank's PSS. @note collective
double node_pss(const lagoon::Runtime& rt) {
  double mine = static_cast<double>(lagoon::memory_usage().pss), sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, rt.node_comm());
  return sum;
}

TEST_F(ObjectStoreTest, AnAdoptedArrayIsAnObjectWithNoCopyAndNoFetch) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);  // smaller than the array: it does not go in the arena
  const std::size_t n = std::size_t{8} << 20;  // 64 MiB
  const double before = node_pss(rt);
  lagoon::SharedArray<double> a(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) a[i] = static_cast<double>(i % 1000);
  a.fence();
  const double* where = a.data();
  const auto ref = store.adopt(std::move(a));
  EXPECT_EQ(a.size(), 0u) << "adopt leaves the array moved from";
  EXPECT_EQ(ref.owner_node(), rt.node_of(0));
  EXPECT_EQ(ref.bytes(), n * sizeof(double));
  EXPECT_EQ(lagoon::broadcast(rt, ref, 0), ref) << "the same ref on every rank";
  auto v = store.get(ref);
  ASSERT_EQ(v.size(), n);
  EXPECT_EQ(v.data(), where) << "the object is the array's own node copy";
  double sum = 0;
  for (double x : v) sum += x;
  double expected = 0;
  for (std::size_t i = 0; i < n; ++i) expected += static_cast<double>(i % 1000);
  EXPECT_EQ(sum, expected);
  rt.barrier();
  const double after = node_pss(rt);
  EXPECT_LT(after - before, 1.3 * static_cast<double>(n * sizeof(double))) << "one copy per node, not two";
  for (const auto& st : store.stats()) EXPECT_EQ(st.fetches, 0u) << "node " << st.node << " fetched it";
  rt.barrier();
  if (rt.node() == ref.owner_node() && rt.node_rank() == 0) store.free(ref);
  rt.barrier();
  EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)store.get(ref); }, "freed"));
}

TEST_F(ObjectStoreTest, AWriterDestroyedUnsealedFreesItsRoom) {
  auto& rt = runtime();
  const std::size_t arena = 32 << 20;
  lagoon::ObjectStore store(rt, arena);
  const std::size_t used = store.local_stats().used;
  rt.barrier();  // every rank read it before the node's leader makes room
  for (int k = 0; k < 5; ++k) {  // 60% of the arena, five times: only if each room is freed
    auto w = store.create<double>(arena * 6 / 10 / sizeof(double));
    for (auto i : lagoon::node_share(rt, w.span().size())) w.span()[i] = 1.0;
  }
  rt.barrier();
  EXPECT_EQ(store.local_stats().used, used);
  EXPECT_EQ(store.local_stats().objects, 0u);
  // More than the arena holds: OutOfMemory on every rank of the node, and the store goes on.
  EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { (void)store.create<double>(arena / sizeof(double)); }, "arena"));
  auto w = store.create<double>(16);
  std::fill(w.span().begin(), w.span().end(), 2.0);
  const auto ref = w.seal();
  EXPECT_EQ(store.get(ref)[15], 2.0);
}

TEST_F(ObjectStoreTest, TheReportHasALinePerNodeWithItsMemoryAndArena) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 64 << 20);
  lagoon::ObjectRef<std::vector<double>> ref;
  if (rt.rank() == 0) ref = store.put(std::vector<double>(std::size_t{1} << 20, 1.0));  // 8 MiB
  ref = lagoon::broadcast(rt, ref, 0);
  EXPECT_EQ(store.get(ref).size(), std::size_t{1} << 20);
  rt.barrier();
  const std::string text = lagoon::report(rt);
  if (rt.rank() != 0) {
    EXPECT_TRUE(text.empty());
  } else {
    EXPECT_EQ(static_cast<int>(std::count(text.begin(), text.end(), '\n')), rt.node_count()) << text;
    for (int n = 0; n < rt.node_count(); ++n)
      EXPECT_NE(text.find("lagoon report: node " + std::to_string(n) + " ("), std::string::npos) << text;
    EXPECT_NE(text.find("arena 64.00 MiB"), std::string::npos) << text;
    EXPECT_NE(text.find("1 object (8.00 MiB)"), std::string::npos) << text;  // node 0 owns it
    EXPECT_NE(text.find("spilled 0 B (0 objects), 0 restores"), std::string::npos) << text;
    EXPECT_EQ(text.find("PSS 0.00"), std::string::npos) << "a node's PSS is never 0: " << text;
    if (rt.node_count() > 1) {
      EXPECT_NE(text.find("1 cached, 1 fetches"), std::string::npos) << text;  // every other node fetched it
    }
  }
  rt.barrier();
  if (rt.rank() == 0) store.free(ref);
  rt.barrier();
}

TEST_F(ObjectStoreTest, AVectorPutOnOneRankIsReadInPlaceOnEveryNodeAfterOneTransferPerNode) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, kArena);
  const std::size_t n = 1'000'003;
  lagoon::ObjectRef<std::vector<double>> ref;
  if (rt.rank() == 0) {
    std::vector<double> v(n);
    std::iota(v.begin(), v.end(), 0.0);
    ref = store.put(v);
  }
  ref = broadcast(ref);
  ASSERT_FALSE(ref.empty());
  EXPECT_EQ(ref.owner_node(), 0);
  EXPECT_EQ(ref.bytes(), n * sizeof(double));

  auto view = store.get(ref);
  ASSERT_EQ(view.size(), n);
  EXPECT_TRUE(store.in_arena(view.data())) << "the view must alias the node arena";
  EXPECT_EQ(view.owned_here(), rt.node() == 0);
  for (std::size_t i = 0; i < n; i += 997) ASSERT_EQ(view[i], static_cast<double>(i));
  EXPECT_EQ(std::accumulate(view.begin(), view.end(), 0.0), static_cast<double>(n) * (n - 1) / 2);
  // One rank of each other node brought the bytes over; the others read its copy.
  EXPECT_EQ(count_over_node(view.fetched()), rt.node() == 0 ? 0 : 1);
  rt.barrier();
  const auto stats = store.local_stats();
  EXPECT_EQ(stats.fetches, rt.node() == 0 ? 0u : 1u);
  EXPECT_EQ(stats.cached, rt.node() == 0 ? 0u : 1u);
  EXPECT_EQ(stats.objects, rt.node() == 0 ? 1u : 0u);

  // A second get on the node: a cache hit, the same bytes, no transfer.
  auto again = store.get(ref);
  EXPECT_EQ(again.data(), view.data());
  EXPECT_FALSE(again.fetched());
  rt.barrier();
  EXPECT_EQ(store.local_stats().fetches, rt.node() == 0 ? 0u : 1u);
  if (rt.node() != 0) {
    EXPECT_GE(store.local_stats().cache_hits, static_cast<std::uint64_t>(rt.node_size()));
  }
  rt.barrier();
}

struct Point {
  double x, y;
  std::int32_t id;
};

TEST_F(ObjectStoreTest, ValuesAndSpansOfShareableDataAreRawAndAnyRankCanPut) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, kArena);
  // Every rank puts at once (not collective): a value and a span.
  const Point p{rt.rank() + 0.5, -1.0 * rt.rank(), rt.rank()};
  std::vector<std::int64_t> ints(1000 + rt.rank());
  std::iota(ints.begin(), ints.end(), rt.rank() * 10'000);
  struct Refs {
    lagoon::ObjectRef<Point> point;
    lagoon::ObjectRef<std::vector<std::int64_t>> ints;
  } mine{store.put(p), store.put(std::span<const std::int64_t>(ints))};
  std::vector<Refs> all(static_cast<std::size_t>(rt.size()));
  MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, rt.world());
  for (int r = 0; r < rt.size(); ++r) {
    const auto& refs = all[static_cast<std::size_t>(r)];
    EXPECT_EQ(refs.point.owner_node(), rt.node_of(r));
    auto point = store.get(refs.point);
    ASSERT_EQ(point.size(), 1u);
    EXPECT_EQ(point->x, r + 0.5);
    EXPECT_EQ((*point).id, r);
    EXPECT_TRUE(store.in_arena(&*point));
    auto v = store.get(refs.ints);
    ASSERT_EQ(v.size(), 1000u + r);
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], r * 10'000 + static_cast<std::int64_t>(i));
  }
  rt.barrier();
}

TEST_F(ObjectStoreTest, OtherTypesGoThroughTheirArchiveAndComeBackEqual) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, kArena);
  std::map<std::string, std::string> capitals{{"France", "Paris"}, {"Japan", "Tokyo"}, {"Peru", "Lima"}};
  std::vector<std::string> words;
  for (int i = 0; i < 10'000; ++i) words.push_back(std::string("w").append(std::to_string(i * 7919)));
  lagoon::ObjectRef<std::map<std::string, std::string>> map_ref;
  lagoon::ObjectRef<std::vector<std::string>> words_ref;
  const int root = rt.size() - 1;  // the last node owns them
  if (rt.rank() == root) {
    map_ref = store.put(capitals);
    words_ref = store.put(words);
  }
  map_ref = broadcast(map_ref, root);
  words_ref = broadcast(words_ref, root);
  EXPECT_EQ(store.get(map_ref), capitals);
  EXPECT_EQ(store.get(words_ref), words);
  EXPECT_EQ(store.get(words_ref), words);  // from the node's copy
  rt.barrier();
}

TEST_F(ObjectStoreTest, AGetAsAnotherTypeIsATypeMismatch) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, kArena);
  lagoon::ObjectRef<std::vector<double>> ref;
  lagoon::ObjectRef<std::vector<std::string>> strings;
  if (rt.rank() == 0) {
    ref = store.put(std::vector<double>{1, 2, 3});
    strings = store.put(std::vector<std::string>{"a"});
  }
  ref = broadcast(ref);
  strings = broadcast(strings);
  // A ref's bytes received as a ref of another type (as a user's MPI_Recv might).
  lagoon::ObjectRef<std::vector<float>> as_float;
  std::memcpy(static_cast<void*>(&as_float), &ref, sizeof ref);
  EXPECT_TRUE(throws<lagoon::TypeMismatch>([&] { (void)store.get(as_float); }, "another type"));
  lagoon::ObjectRef<std::map<int, int>> as_map;
  std::memcpy(static_cast<void*>(&as_map), &strings, sizeof strings);
  EXPECT_TRUE(throws<lagoon::TypeMismatch>([&] { (void)store.get(as_map); }, "std::map<int, int>"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)store.get(lagoon::ObjectRef<double>{}); }, "empty"));
  lagoon::ObjectStore other(rt, 1u << 20);
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)other.get(ref); }, "another store"));
  EXPECT_EQ(store.get(ref)[2], 3.0);  // the real type still reads
  rt.barrier();
}

TEST_F(ObjectStoreTest, FreeReleasesTheBytesOnEveryNodeAndLaterGetsAreObjectFreed) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, kArena);
  const std::size_t n = 1 << 20;
  lagoon::ObjectRef<std::vector<float>> ref;
  if (rt.rank() == 0) ref = store.put(std::vector<float>(n, 2.5f));
  ref = broadcast(ref);
  {
    auto view = store.get(ref);  // every node holds the bytes now
    EXPECT_EQ(view[n - 1], 2.5f);
    rt.barrier();
    if (rt.rank() == 0) {
      // Only the rank that put it frees it.
    } else {
      EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { store.free(ref); }, "only"));
    }
    rt.barrier();
    if (rt.rank() == 0) store.free(ref);
    rt.barrier();
    // A view read before the free still reads (its bytes stay while it lives).
    EXPECT_EQ(view[n / 2], 2.5f);
    EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)store.get(ref); }, "was freed"));
    rt.barrier();
  }
  rt.barrier();  // every view is gone: no bytes of the object stay anywhere
  // (A service thread that sent the bytes to another node unpins them when its send
  // returns, which on an oversubscribed machine can be a moment after the receiver
  // has them.)
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store.local_stats().used >= n * sizeof(float) / 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto stats = store.local_stats();
  EXPECT_EQ(stats.objects, 0u);
  EXPECT_EQ(stats.cached, 0u);
  EXPECT_LT(stats.used, n * sizeof(float) / 4) << "the freed bytes went back to the arena: " << store.describe();
  if (rt.rank() == 0) {
    EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { store.free(ref); }, "already freed"));
  }
  rt.barrier();
}

TEST_F(ObjectStoreTest, AFullArenaSpillsItsOwnObjectsEvictsCopiesAndRefusesOnlyWhatIsInUse) {
  auto& rt = runtime();
  const std::size_t arena = 1u << 20;
  lagoon::ObjectStore store(rt, arena);
  EXPECT_TRUE(
      throws<lagoon::OutOfMemory>([&] { (void)store.put(std::vector<char>(2 * arena)); }, "cannot hold 2097152 bytes"));
  EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { (void)store.put(std::vector<char>(2 * arena)); },
                                          "node " + std::to_string(rt.node())));
  EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { (void)store.put(std::vector<char>(2 * arena)); },
                                          "larger than the arena itself"));
  // Two objects of 60% of an arena each, on the last node: the second spills the first,
  // a get of the first restores it (spilling the second).
  const int root = rt.size() - 1;
  const std::size_t big = arena * 6 / 10;
  lagoon::ObjectRef<std::vector<char>> a, b;
  if (rt.rank() == root) a = store.put(std::vector<char>(big, 'a'));
  a = broadcast(a, root);
  rt.barrier();
  if (rt.rank() == root) {
    b = store.put(std::vector<char>(big, 'b'));
    auto stats = store.local_stats();
    EXPECT_EQ(stats.spilled_objects, 1u);
    EXPECT_EQ(stats.spilled_bytes, big);
    EXPECT_EQ(stats.spills, 1u);
    {
      auto va = store.get(a);
      EXPECT_EQ(va[0], 'a');
      EXPECT_EQ(va[big - 1], 'a');
    }
    stats = store.local_stats();
    EXPECT_EQ(stats.restores, 1u);
    EXPECT_EQ(stats.spills, 2u) << "b went to disk to make a's room";
    store.free(a);
  }
  b = broadcast(b, root);
  // Another node: its own object spills when it needs room, a copy in use is never
  // evicted, and only then is there no room.
  if (rt.node() != rt.node_of(root) && rt.node_rank() == 0) {
    EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)store.get(a); }, "freed"));
    auto own = store.put(std::vector<char>(arena / 3, 'c'));
    {
      auto vb = store.get(b);  // restored on its node, then brought over
      EXPECT_EQ(vb[big - 1], 'b');
      EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { (void)store.put(std::vector<char>(big, 'd')); }, "in use"));
      EXPECT_EQ(store.local_stats().spilled_objects, 1u) << "own went to disk in the attempt";
    }
    // Unpinned now: the copy is evicted to make room.
    auto d = store.put(std::vector<char>(big, 'd'));
    EXPECT_EQ(store.local_stats().evictions, 1u);
    EXPECT_EQ(store.get(own)[arena / 3 - 1], 'c');
    EXPECT_EQ(store.local_stats().restores, 1u);
    store.free(d);
    EXPECT_EQ(store.get(b)[0], 'b');  // brought over again
    store.free(own);
  }
  rt.barrier();
  if (rt.rank() == root) store.free(b);
  rt.barrier();
}

using lagoon::testing::Skewed;

struct Truncated {
  std::string text;
  template <class Archive>
  void save(Archive& ar, unsigned) const {
    const std::uint64_t length = 1000;
    ar << length;  // a length, then fewer bytes than it says
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    ar >> text;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

TEST_F(ObjectStoreTest, ACorruptArchiveIsADeserializeErrorOnTheReadingRank) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, kArena);
  lagoon::ObjectRef<Skewed> skewed;
  lagoon::ObjectRef<Truncated> truncated;
  if (rt.rank() == 0) {
    skewed = store.put(Skewed{});
    truncated = store.put(Truncated{});
  }
  skewed = broadcast(skewed);
  truncated = broadcast(truncated);
  EXPECT_TRUE(throws<lagoon::DeserializeError>([&] { (void)store.get(skewed); }, "corrupt or truncated"));
  EXPECT_TRUE(throws<lagoon::DeserializeError>([&] { (void)store.get(truncated); }, "Truncated"));
  rt.barrier();
}

TEST_F(ObjectStoreTest, AGetCompletesWhileTheOwnerNodeComputes) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  lagoon::ObjectStore store(rt, kArena);
  lagoon::ObjectRef<std::vector<std::uint8_t>> ref;
  if (rt.rank() == 0) ref = store.put(std::vector<std::uint8_t>(8u << 20, 7));
  ref = broadcast(ref);
  using Clock = std::chrono::steady_clock;
  if (rt.node() == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(2));  // "computes": no MPI call
  } else {
    const auto start = Clock::now();
    auto v = store.get(ref);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    EXPECT_EQ(v[12345], 7);
    EXPECT_LT(ms, 1000.0) << "the get waited for the owner to stop computing";
    if (rt.node_rank() == 0) std::printf("    [measured] 8 MiB get while the owner computes: %.1f ms\n", ms);
  }
  rt.barrier();
}

TEST_F(ObjectStoreTest, DifferentArenaSizesOnDifferentRanksAreRefusedOnEveryRank) {
  auto& rt = runtime();
  if (rt.size() < 2) GTEST_SKIP() << "needs two ranks";
  const std::size_t bytes = rt.rank() == 0 ? (1u << 20) : (2u << 20);
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { lagoon::ObjectStore store(rt, bytes); }, "different arena sizes"));
  EXPECT_TRUE(
      throws<lagoon::InvalidArgument>([&] { lagoon::SharedMap<int, int> map(rt, bytes); }, "different arena sizes"));
  lagoon::ObjectStore after(rt, 1u << 20);  // the ranks are still in step
  rt.barrier();
}

TEST_F(ObjectStoreTest, AForgedRefIsTheSameInvalidArgumentOnEveryNode) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 1u << 20);
  lagoon::ObjectRef<std::vector<int>> ref;
  if (rt.rank() == 0) ref = store.put(std::vector<int>(100, 1));
  ref = lagoon::broadcast(rt, ref, 0);
  // A ref's bytes with an object number its node never gave (a forged or corrupt ref).
  auto data = std::bit_cast<lagoon::detail::RefData>(ref);
  data.serial += 1000;
  const auto forged = std::bit_cast<lagoon::ObjectRef<std::vector<int>>>(data);
  // On the owner's node a local lookup, elsewhere the owner's service: the same type.
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)store.get(forged); }, "a corrupt ref?"));
  rt.barrier();
  if (rt.rank() == 0) store.free(ref);
  rt.barrier();
}

TEST_F(ObjectStoreTest, AnArenaTooSmallForItsTablesIsRefusedWithTheMinimum) {
  auto& rt = runtime();
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { lagoon::ObjectStore store(rt, 100); }, "at least 65536 bytes"));
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { lagoon::SharedMap<int, int> map(rt, 100); }, "too small"));
  lagoon::ObjectStore smallest(rt, 64u << 10);  // the minimum itself works
  lagoon::ObjectRef<std::uint64_t> ref;
  if (rt.rank() == 0) ref = smallest.put(std::uint64_t{7});
  ref = lagoon::broadcast(rt, ref, 0);
  EXPECT_EQ(*smallest.get(ref), 7u);
  rt.barrier();
}

TEST_F(ObjectStoreTest, StatsReportEveryNodeFromAnyRank) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 4u << 20);
  lagoon::ObjectRef<std::vector<int>> ref;
  if (rt.is_node_leader()) ref = store.put(std::vector<int>(1000 * (rt.node() + 1)));
  rt.barrier();
  if (rt.rank() == rt.size() - 1) {
    const auto all = store.stats();
    ASSERT_EQ(all.size(), static_cast<std::size_t>(rt.node_count()));
    for (int n = 0; n < rt.node_count(); ++n) {
      const auto& s = all[static_cast<std::size_t>(n)];
      EXPECT_EQ(s.node, n);
      EXPECT_EQ(s.capacity, 4u << 20);
      EXPECT_EQ(s.objects, 1u);
      EXPECT_EQ(s.object_bytes, 4000u * (n + 1));
      EXPECT_GE(s.used, s.object_bytes);
    }
    const std::string text = store.describe();
    std::printf("    [describe] %s\n", text.c_str());
    EXPECT_NE(text.find("4.00 MiB per node (from the constructor"), std::string::npos) << text;
  }
  rt.barrier();
  if (rt.is_node_leader()) store.free(ref);
  rt.barrier();
}

TEST_F(ObjectStoreTest, TheNodeHoldsOneCopyNotOnePerRank) {
  auto& rt = runtime();
  const std::size_t bytes = 64u << 20;
  const std::size_t arena = bytes + (4u << 20);
  std::vector<double> source;
  if (rt.rank() == 0) source.assign(bytes / sizeof(double), 1.0);
  auto node_pss = [&] {
    unsigned long long mine = lagoon::memory_usage().pss, total = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, rt.node_comm());
    return static_cast<double>(total);
  };
  rt.barrier();
  const double before = node_pss();  // before the store: its arena is the node's one copy
  {
    lagoon::ObjectStore store(rt, arena);
    lagoon::ObjectRef<std::vector<double>> ref;
    if (rt.rank() == 0) ref = store.put(source);
    ref = broadcast(ref);
    double sum = 0;
    {
      auto v = store.get(ref);
      sum = std::accumulate(v.begin(), v.end(), 0.0);  // every rank reads every page
      rt.barrier();
    }
    const double copies = (node_pss() - before) / static_cast<double>(bytes);
    EXPECT_EQ(sum, static_cast<double>(bytes / sizeof(double)));
    if (rt.node_rank() == 0)
      std::printf("    [measured] node %d (%d ranks): node PSS grew by %.3f copies of the object (arena %.2f)\n",
                  rt.node(), rt.node_size(), copies, static_cast<double>(arena) / bytes);
    // One copy per node (the arena, 1.06 copies' worth here), not one per rank.
    EXPECT_GT(copies, 0.9);
    EXPECT_LT(copies, 1.3);
    rt.barrier();
  }
}

}  // namespace
