// ObjectStore spilling: a full arena writes cold objects of its node's own to
// LAGOON_SPILL_DIR and a later get (on the node, or a fetch from another node) reads
// them back; pinned objects stay; files go with free and with the store.
// The test's LAGOON_SPILL_DIR is its own (CTest sets it).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;
namespace fs = std::filesystem;

class StoreSpillTest : public lagoon::testing::MpiTest {};

using Ref = lagoon::ObjectRef<std::vector<std::uint64_t>>;

/// Element i of object k put by world rank r: no two objects alike.
std::uint64_t element(int r, std::size_t k, std::size_t i) {
  return (static_cast<std::uint64_t>(r) << 48) ^ (static_cast<std::uint64_t>(k) << 32) ^ (i * 2654435761u);
}

std::vector<std::uint64_t> object(int r, std::size_t k, std::size_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = element(r, k, i);
  return v;
}

/// Every rank's refs, in rank order, on every rank.
std::vector<Ref> everyones(const std::vector<Ref>& mine) {
  auto& rt = runtime();
  std::vector<Ref> all(mine.size() * static_cast<std::size_t>(rt.size()));
  MPI_Allgather(mine.data(), static_cast<int>(mine.size() * sizeof(Ref)), MPI_BYTE, all.data(),
                static_cast<int>(mine.size() * sizeof(Ref)), MPI_BYTE, rt.world());
  return all;
}

/// This node's spill directories: LAGOON_SPILL_DIR/lagoon-<host>-<pid of the node's first rank>-*.
std::vector<fs::path> node_spill_dirs() {
  auto& rt = runtime();
  long leader = ::getpid();
  MPI_Bcast(&leader, 1, MPI_LONG, 0, rt.node_comm());
  const char* base = std::getenv("LAGOON_SPILL_DIR");
  std::vector<fs::path> dirs;
  if (base == nullptr) return dirs;
  std::string pid = "-";  // built in steps: GCC 12 warns (-Wrestrict) on "-" + std::string + "-"
  pid += std::to_string(leader);
  pid += '-';
  std::error_code error;
  for (fs::directory_iterator it(base, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("lagoon-", 0) == 0 && name.find(pid) != std::string::npos) dirs.push_back(it->path());
  }
  return dirs;
}

std::size_t files_in(const std::vector<fs::path>& dirs) {
  std::size_t n = 0;
  for (const auto& d : dirs) {
    std::error_code error;
    for (fs::directory_iterator it(d, error), end; !error && it != end; it.increment(error)) ++n;
  }
  return n;
}

/// Sum over nodes of one StoreStats field, as every rank sees it.
template <class F>
std::uint64_t over_nodes(const lagoon::ObjectStore& store, F field) {
  std::uint64_t total = 0;
  for (const auto& s : store.stats()) total += static_cast<std::uint64_t>(field(s));
  return total;
}

TEST_F(StoreSpillTest, ThreeArenasOfObjectsFromEveryRankComeBackByteIdenticalOnEveryNode) {
  auto& rt = runtime();
  const std::size_t arena = 4u << 20;
  const std::size_t n = (256u << 10) / sizeof(std::uint64_t);  // 256 KiB objects
  const std::size_t per_node = 3 * arena / (n * sizeof(std::uint64_t));  // 3 arenas' worth per node
  const std::size_t per_rank = (per_node + static_cast<std::size_t>(rt.node_size()) - 1) / rt.node_size();
  std::vector<Ref> all;
  {
    lagoon::ObjectStore store(rt, arena);
    std::vector<Ref> mine;
    for (std::size_t k = 0; k < per_rank; ++k) mine.push_back(store.put(object(rt.rank(), k, n)));
    all = everyones(mine);
    rt.barrier();
    const auto local = store.local_stats();
    EXPECT_GT(local.spilled_objects, 0u) << "three arenas' worth cannot all be in one";
    EXPECT_EQ(local.objects, per_rank * rt.node_size()) << "spilled objects are still the node's objects";
    EXPECT_LE(local.used, arena);
    EXPECT_GT(files_in(node_spill_dirs()), 0u) << "spilled objects are files in LAGOON_SPILL_DIR";
    rt.barrier();
    const std::string report = lagoon::report(rt);
    if (rt.rank() == 0) {
      EXPECT_NE(report.find("spilled "), std::string::npos) << report;
      EXPECT_EQ(report.find("spilled 0 B"), std::string::npos) << "every node spilled: " << report;
    }
    // Every rank reads every object of every rank: restores here, fetches (restored on
    // their own node) from other nodes.
    std::size_t wrong = 0;
    for (std::size_t j = 0; j < all.size(); ++j) {
      const int r = static_cast<int>(j / per_rank);
      const std::size_t k = j % per_rank;
      const auto v = store.get(all[j]);
      if (v.size() != n) {
        ++wrong;
        continue;
      }
      for (std::size_t i = 0; i < n; i += 1 + i % 97)
        if (v[i] != element(r, k, i)) {
          ++wrong;
          break;
        }
      if (v[n - 1] != element(r, k, n - 1)) ++wrong;
    }
    EXPECT_EQ(wrong, 0u);
    rt.barrier();
    const auto after = store.local_stats();
    EXPECT_GT(after.restores, 0u);
    EXPECT_GE(after.spills, local.spills);
    EXPECT_LE(after.spilled_bytes, per_rank * rt.node_size() * n * sizeof(std::uint64_t));
    EXPECT_EQ(after.spilled_bytes, after.spilled_objects * n * sizeof(std::uint64_t));
    rt.barrier();
    for (const auto& ref : mine) store.free(ref);
    rt.barrier();
    EXPECT_EQ(store.local_stats().spilled_objects, 0u);
    EXPECT_EQ(store.local_stats().objects, 0u);
    EXPECT_EQ(files_in(node_spill_dirs()), 0u) << "free removes a spilled object's file";
    rt.barrier();
  }
  EXPECT_TRUE(node_spill_dirs().empty()) << "the store's end removes its directory";
  rt.barrier();
}

TEST_F(StoreSpillTest, ThousandsOfSpillRestoreCyclesFromEveryRankEndWithNoHang) {
  auto& rt = runtime();
  const std::size_t arena = 1u << 20;
  const std::size_t n = (128u << 10) / sizeof(std::uint64_t);  // 128 KiB: 16 per node are twice the arena
  const std::size_t per_rank = (16 + static_cast<std::size_t>(rt.node_size()) - 1) / rt.node_size();
  lagoon::ObjectStore store(rt, arena);
  std::vector<Ref> mine;
  for (std::size_t k = 0; k < per_rank; ++k) mine.push_back(store.put(object(rt.rank(), k, n)));
  const auto all = everyones(mine);
  std::mt19937 pick(static_cast<unsigned>(rt.rank()) + 7);
  std::size_t wrong = 0;
  const int gets = 1000;
  for (int g = 0; g < gets; ++g) {
    // Mostly this node's own objects (restores), some of other nodes (fetches that
    // restore there).
    const bool remote = rt.node_count() > 1 && g % 4 == 3;
    std::size_t j = 0;
    do {
      j = pick() % all.size();
    } while ((rt.node_of(static_cast<int>(j / per_rank)) != rt.node()) != remote);
    const auto v = store.get(all[j]);
    const int r = static_cast<int>(j / per_rank);
    if (v.size() != n || v[0] != element(r, j % per_rank, 0) || v[n / 2] != element(r, j % per_rank, n / 2) ||
        v[n - 1] != element(r, j % per_rank, n - 1))
      ++wrong;
  }
  EXPECT_EQ(wrong, 0u);
  rt.barrier();
  const std::uint64_t restores = over_nodes(store, [](const lagoon::StoreStats& s) { return s.restores; });
  const std::uint64_t spills = over_nodes(store, [](const lagoon::StoreStats& s) { return s.spills; });
  if (rt.rank() == 0) std::printf("    [cycles] %d gets on %d ranks: %llu restores, %llu spills\n", gets, rt.size(),
                                  static_cast<unsigned long long>(restores), static_cast<unsigned long long>(spills));
  // Twice the arena per node, read at random: about half the gets find their object on disk.
  EXPECT_GE(restores, static_cast<std::uint64_t>(gets) * static_cast<std::uint64_t>(rt.size()) / 4);
  EXPECT_GE(spills, restores);
  for (const auto& ref : mine) store.free(ref);
  rt.barrier();
  EXPECT_EQ(files_in(node_spill_dirs()), 0u);
  rt.barrier();
}

TEST_F(StoreSpillTest, AViewKeepsItsObjectInTheArenaAndOnlyPinnedBytesAreOutOfMemory) {
  auto& rt = runtime();
  const std::size_t arena = 1u << 20;
  const std::size_t n = (300u << 10) / sizeof(std::uint64_t);  // 300 KiB: three fill the arena
  lagoon::ObjectStore store(rt, arena);
  if (rt.node_rank() == 0) {
    const auto a = store.put(object(rt.rank(), 0, n));
    const auto view = store.get(a);
    const std::uint64_t* at = view.data();
    std::vector<Ref> more;
    for (std::size_t k = 1; k <= 6; ++k) more.push_back(store.put(object(rt.rank(), k, n)));
    EXPECT_EQ(view.data(), at) << "a viewed object is never moved";
    EXPECT_EQ(view[n - 1], element(rt.rank(), 0, n - 1));
    EXPECT_GE(store.local_stats().spilled_objects, 4u);
    // Everything else viewed too: nothing left to spill, so no room.
    std::vector<lagoon::ObjectView<std::uint64_t>> views;
    views.push_back(store.get(more[5]));
    views.push_back(store.get(more[4]));
    EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { (void)store.put(object(rt.rank(), 9, n)); },
                                            "objects in use by views"));
    EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { (void)store.get(more[0]); }, "spilling every unused object"));
    views.clear();
    EXPECT_EQ(store.get(more[0])[n - 1], element(rt.rank(), 1, n - 1)) << "restored once views let go";
    for (const auto& r : more) store.free(r);
    store.free(a);
  }
  // Larger than the arena itself: no spilling can help, and none is tried.
  EXPECT_TRUE(throws<lagoon::OutOfMemory>([&] { (void)store.put(std::vector<char>(2 * arena)); },
                                          "larger than the arena itself"));
  rt.barrier();
}

TEST_F(StoreSpillTest, ADamagedSpillFileIsAFormatErrorNamingItAndFreeStillWorks) {
  auto& rt = runtime();
  const std::size_t arena = 1u << 20;
  const std::size_t n = (400u << 10) / sizeof(std::uint64_t);
  lagoon::ObjectStore store(rt, arena);
  if (rt.node_rank() == 0) {
    const auto a = store.put(object(rt.rank(), 0, n));
    const auto b = store.put(object(rt.rank(), 1, n));
    const auto c = store.put(object(rt.rank(), 2, n));  // a goes to disk
    ASSERT_EQ(store.local_stats().spilled_objects, 1u);
    const auto dirs = node_spill_dirs();
    ASSERT_FALSE(dirs.empty());
    fs::path file;
    for (const auto& d : dirs)
      for (const auto& f : fs::directory_iterator(d)) file = f.path();
    ASSERT_FALSE(file.empty());
    fs::resize_file(file, 1000);  // cut short
    EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)store.get(a); }, file.string()));
    EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)store.get(a); }, "holds 1000 bytes"));
    EXPECT_EQ(store.get(b)[0], element(rt.rank(), 1, 0)) << "the other objects are unharmed";
    store.free(a);
    EXPECT_FALSE(fs::exists(file));
    store.free(b);
    store.free(c);
  }
  rt.barrier();
}

}  // namespace
