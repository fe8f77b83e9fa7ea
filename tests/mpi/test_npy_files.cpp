// What save_npy and load_npy do with the path they are given: a symbolic link is written
// through, a file keeps its mode, FIFOs, devices and directories are refused (never
// replaced, never blocked on), and a file replaced between the header's check and the
// read is refused, not loaded unchecked.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;
namespace fs = std::filesystem;

class NpyFilesTest : public lagoon::testing::MpiTest {};

/// A directory of its own for the test, the same on every rank (one host).
fs::path test_dir(const char* name) {
  auto& rt = runtime();
  const long pid = lagoon::broadcast(rt, static_cast<long>(::getpid()), 0);
  const fs::path dir = fs::temp_directory_path() / ("lagoon-npy-" + std::string(name) + "-" + std::to_string(pid));
  if (rt.rank() == 0) {
    fs::remove_all(dir);
    fs::create_directories(dir / "run42");
  }
  rt.barrier();
  return dir;
}

lagoon::SharedArray<double> filled(double value) {
  lagoon::SharedArray<double> a(runtime(), {1000});
  for (auto i : lagoon::node_share(runtime(), a.size())) a[i] = value;
  a.fence();
  return a;
}

TEST_F(NpyFilesTest, ASymlinkIsWrittenThroughAndTheFileKeepsItsMode) {
  auto& rt = runtime();
  const fs::path dir = test_dir("link");
  const fs::path target = dir / "run42" / "out.npy";
  const fs::path link = dir / "latest.npy";
  lagoon::save_npy(filled(1.0), target.string());
  if (rt.rank() == 0) {
    fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write);  // 0600
    fs::create_symlink(fs::path("run42") / "out.npy", link);
  }
  rt.barrier();
  lagoon::save_npy(filled(2.0), link.string());
  EXPECT_TRUE(fs::is_symlink(link)) << "the link stays a link";
  const auto back = lagoon::load_npy<double>(rt, target.string());
  EXPECT_EQ(back[0], 2.0) << "the link's target holds the new data";
  EXPECT_EQ(back[999], 2.0);
  EXPECT_EQ(fs::status(target).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write)
      << "the file keeps its mode";
  EXPECT_FALSE(fs::exists(dir / "run42" / "out.npy.lagoon-partial"));
  EXPECT_FALSE(fs::exists(dir / "latest.npy.lagoon-partial"));
  rt.barrier();
  if (rt.rank() == 0) fs::remove_all(dir);
}

TEST_F(NpyFilesTest, FifosDevicesAndDirectoriesAreRefusedOnEveryRankAndLeftAsTheyWere) {
  auto& rt = runtime();
  const fs::path dir = test_dir("special");
  const fs::path fifo = dir / "pipe.npy";
  if (rt.rank() == 0) {
    EXPECT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  }
  rt.barrier();
  const auto a = filled(3.0);
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { lagoon::save_npy(a, fifo.string()); }, "a FIFO, not a regular file"));
  EXPECT_TRUE(fs::is_fifo(fifo)) << "the FIFO is still a FIFO";
  // Loading neither blocks on the FIFO (no writer) nor reads a device forever.
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<double>(rt, fifo.string()); }, "a FIFO"));
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<double>(rt, "/dev/zero"); },
                                          "a character device"));
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { lagoon::save_npy(a, (dir / "run42").string()); }, "a directory"));
  EXPECT_TRUE(fs::is_directory(dir / "run42"));
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<double>(rt, (dir / "run42").string()); },
                                          "a directory"));
  rt.barrier();
  if (rt.rank() == 0) fs::remove_all(dir);
}

TEST_F(NpyFilesTest, AFileReplacedAfterItsHeaderWasCheckedIsRefusedNotLoaded) {
  auto& rt = runtime();
  const fs::path dir = test_dir("replaced");
  const fs::path path = dir / "x.npy";
  lagoon::save_npy(filled(4.0), path.string());
  {
    lagoon::SharedArray<std::int64_t> ints(rt, {1000});
    ints.fence();
    lagoon::save_npy(ints, (dir / "ints.npy").string());
  }
  // load_npy's two steps, with the file replaced between them (as save_npy publishes a
  // file: by rename).
  const auto layout = lagoon::detail::read_npy_layout(rt, path.string(), lagoon::detail::dtype_of<double>(), "double");
  if (rt.rank() == 0) fs::rename(dir / "ints.npy", path);
  rt.barrier();
  std::vector<double> into(1000);
  EXPECT_TRUE(throws<lagoon::FormatError>(
      [&] {
        lagoon::detail::read_npy_items(rt, path.string(), layout, 0, into.size(),
                                       reinterpret_cast<std::byte*>(into.data()), sizeof(double), "double");
      },
      "the file changed after world rank 0 checked its header"));
  // Loaded again, the new file's own header is checked: int64 is not double.
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<double>(rt, path.string()); }, "<i8"));
  rt.barrier();
  if (rt.rank() == 0) fs::remove_all(dir);
}

}  // namespace
