// .npy files and GlobalArrays: load_npy_global reads each node's rows on that node only
// (every pread is counted, through a wrapper), save_npy of a GlobalArray writes one file
// from every node, byte for byte the file a SharedArray of the same values gives, in
// both record layouts; a file larger than one node's share round-trips.
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include "records.hpp"
#include "support.hpp"

namespace {

/// The preads of one file (by device and inode) while `counting` is on.
struct Read {
  std::uint64_t offset;
  std::uint64_t bytes;
};
std::atomic<bool> counting{false};
dev_t watched_dev = 0;
ino_t watched_ino = 0;
std::mutex reads_mutex;
std::vector<Read> reads;

void note(int fd, std::size_t bytes, off_t offset) {
  if (!counting) return;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_dev != watched_dev || st.st_ino != watched_ino) return;
  std::lock_guard lock(reads_mutex);
  reads.push_back(Read{static_cast<std::uint64_t>(offset), bytes});
}

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

// Interposed: every pread of this process passes here, then to the C library's.
extern "C" {
ssize_t pread(int fd, void* buffer, std::size_t bytes, off_t offset) {
  static const auto next = real<ssize_t (*)(int, void*, std::size_t, off_t)>("pread");
  const ssize_t got = next(fd, buffer, bytes, offset);
  if (got > 0) note(fd, static_cast<std::size_t>(got), offset);
  return got;
}
ssize_t pread64(int fd, void* buffer, std::size_t bytes, off_t offset) {
  static const auto next = real<ssize_t (*)(int, void*, std::size_t, off_t)>("pread64");
  const ssize_t got = next(fd, buffer, bytes, offset);
  if (got > 0) note(fd, static_cast<std::size_t>(got), offset);
  return got;
}
}

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;
using records::Trade;

class NpyGlobalTest : public lagoon::testing::MpiTest {
 protected:
  /// A folder every rank sees (the job's ranks share this machine's /tmp, or a cluster's).
  static std::string dir() {
    auto& rt = runtime();
    std::uint64_t stamp = rt.rank() == 0 ? static_cast<std::uint64_t>(::getpid()) : 0;
    MPI_Bcast(&stamp, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    const std::string d = "/tmp/lagoon-npy-global-" + std::to_string(stamp);
    if (rt.rank() == 0) std::filesystem::create_directories(d);
    rt.barrier();
    return d;
  }
  static void remove(const std::string& d) {
    runtime().barrier();
    if (runtime().rank() == 0) std::filesystem::remove_all(d);
  }
  static std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
};

double value(std::size_t i) { return static_cast<double>(i) * 0.5 - 3.0; }

TEST_F(NpyGlobalTest, EachNodeReadsOnlyItsOwnRows) {
  auto& rt = runtime();
  const std::string d = dir();
  const std::size_t rows = 4099, cols = 7;
  {
    lagoon::SharedArray<double> a(rt, {rows, cols});
    for (auto i : lagoon::node_share(rt, a.size())) a.data()[i] = value(i);
    a.fence();
    lagoon::save_npy(a, d + "/x.npy");
  }
  struct stat st {};
  ASSERT_EQ(::stat((d + "/x.npy").c_str(), &st), 0);
  watched_dev = st.st_dev;
  watched_ino = st.st_ino;
  const std::uint64_t payload = static_cast<std::uint64_t>(st.st_size) - rows * cols * sizeof(double);
  reads.clear();
  counting = true;
  auto g = lagoon::load_npy_global<double>(rt, d + "/x.npy");
  counting = false;
  ASSERT_EQ(g.shape(), (std::vector<std::size_t>{rows, cols}));
  const auto mine = g.local_rows();
  for (std::size_t k = 0; k < g.local().size(); ++k)
    ASSERT_EQ(g.local()[k], value(mine.front() * cols + k)) << "element " << k << " of the node's rows";
  // Every byte this rank read from the file's data lies in its node's rows.
  const std::uint64_t begin = payload + mine.front() * cols * sizeof(double);
  const std::uint64_t end = payload + (mine.back() + 1) * cols * sizeof(double);
  std::uint64_t data_bytes = 0;
  for (const Read& r : reads) {
    if (r.offset + r.bytes <= payload) {
      EXPECT_EQ(rt.rank(), 0) << "only world rank 0 reads the header";
      continue;
    }
    EXPECT_GE(r.offset, begin) << "a read before the node's rows";
    EXPECT_LE(r.offset + r.bytes, end) << "a read after the node's rows";
    data_bytes += r.bytes;
  }
  // And the node's ranks together read its rows exactly once.
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, rt.node(), rt.rank(), &node);
  std::uint64_t node_bytes = 0;
  MPI_Allreduce(&data_bytes, &node_bytes, 1, MPI_UINT64_T, MPI_SUM, node);
  MPI_Comm_free(&node);
  EXPECT_EQ(node_bytes, end - begin);
  EXPECT_GT(data_bytes, 0u) << "every rank of the node reads a share";
  remove(d);
}

TEST_F(NpyGlobalTest, AFileLargerThanANodesShareRoundTrips) {
  auto& rt = runtime();
  const std::string d = dir();
  // 24 MB: every node holds only its block of it (a third, on three nodes).
  const std::size_t rows = 3000, cols = 1000;
  lagoon::GlobalArray<double> g(rt, {rows, cols});
  const std::size_t first = g.local_rows().front() * cols;
  for (auto k : lagoon::node_share(rt, g.local().size())) g.local()[k] = value(first + k);
  g.fence();
  lagoon::save_npy(g, d + "/g.npy");
  auto back = lagoon::load_npy_global<double>(rt, d + "/g.npy");
  ASSERT_EQ(back.shape(), g.shape());
  if (rt.node_count() > 1) {
    EXPECT_LT(back.local().size(), rows * cols);
  }
  for (std::size_t k = 0; k < back.local().size(); ++k) ASSERT_EQ(back.local()[k], value(first + k)) << k;
  // The other nodes' rows, through the array.
  std::vector<double> last(cols);
  back.get(rows - 1, rows, last);
  EXPECT_EQ(last[cols - 1], value(rows * cols - 1));
  remove(d);
}

TEST_F(NpyGlobalTest, AGlobalArraySavesTheFileASharedArrayOfItsValuesSaves) {
  auto& rt = runtime();
  const std::string d = dir();
  const std::size_t n = 1001;
  lagoon::SharedArray<Trade> t(rt, {n});
  for (auto i : lagoon::node_share(rt, n)) t[i] = records::trade(i);
  t.fence();
  for (auto layout : {lagoon::npy_layout::aligned, lagoon::npy_layout::packed}) {
    const std::string name = layout == lagoon::npy_layout::packed ? "packed" : "aligned";
    lagoon::save_npy(t, d + "/shared-" + name + ".npy", layout);
    auto g = lagoon::load_npy_global<Trade>(rt, d + "/shared-" + name + ".npy");
    for (auto r : g.local_rows()) {
      const Trade& got = g.local()[r - g.local_rows().front()];
      const Trade e = records::trade(r);
      ASSERT_TRUE(got.when == e.when && records::same(got.price, e.price) && got.qty == e.qty && got.code == e.code)
          << name << " row " << r;
    }
    lagoon::save_npy(g, d + "/global-" + name + ".npy", layout);
    rt.barrier();
    if (rt.rank() == 0) {
      const std::string a = bytes_of(d + "/shared-" + name + ".npy");
      const std::size_t item = layout == lagoon::npy_layout::packed ? 30 : 32;  // NumPy's itemsize either way
      ASSERT_GT(a.size(), item * n);
      EXPECT_EQ((a.size() - item * n) % 64, 0u) << name << ": not a .npy header and the records";
      EXPECT_EQ(bytes_of(d + "/global-" + name + ".npy"), a) << name;
    }
  }
  remove(d);
}

TEST_F(NpyGlobalTest, ErrorsReachEveryRankAndLeaveNoFile) {
  auto& rt = runtime();
  const std::string d = dir();
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy_global<double>(rt, d + "/missing.npy"); },
                                          "cannot open"));
  lagoon::GlobalArray<std::int32_t> g(rt, {100, 3});
  lagoon::save_npy(g, d + "/i4.npy");
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy_global<double>(rt, d + "/i4.npy"); },
                                          "its dtype is '<i4', but double is '<f8'"));
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { lagoon::save_npy(g, d + "/no/such/dir/g.npy"); }, "cannot write"));
  rt.barrier();
  if (rt.rank() == 0) {
    for (const auto& entry : std::filesystem::directory_iterator(d)) {
      EXPECT_EQ(entry.path().filename(), "i4.npy") << "a failed save left a file";
    }
  }
  remove(d);
}

}  // namespace
