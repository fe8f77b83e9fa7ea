// HDF5 through h5py: datasets h5py wrote (tests/hdf5/h5py_files.py make) load into
// SharedArrays and GlobalArrays equal element by element to the values both sides
// compute; lagoon writes them again (out-<ranks>x<nodes>/lagoon.h5) for h5py to check
// (h5py_files.py verify); bad files, datasets and types are FormatErrors on every rank.
#include <complex>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <lagoon/hdf5.hpp>
#include <string>

#include "records.hpp"
#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;
using records::kRows;
using records::Trade;

class Hdf5Test : public lagoon::testing::MpiTest {
 protected:
  static std::string dir() {
    const char* d = std::getenv("LAGOON_HDF5_DIR");
    return d ? d : "hdf5";
  }
  static std::string in() { return dir() + "/h5py.h5"; }
  static std::string out() {
    auto& rt = runtime();
    const std::string d = dir() + "/out-" + std::to_string(rt.size()) + "x" + std::to_string(rt.node_count());
    if (rt.rank() == 0) std::filesystem::create_directories(d);
    rt.barrier();
    return d + "/lagoon.h5";
  }

  /// Loads `name` both ways, checks every element with `expect(i, element)`, and writes
  /// both back under the same name (and global/<name> for the GlobalArray, when asked).
  template <class T, class Check>
  static void round_trip(const std::string& name, std::vector<std::size_t> shape, Check expect,
                         bool global_copy = false) {
    auto& rt = runtime();
    auto a = lagoon::load_hdf5<T>(rt, in(), name);
    ASSERT_EQ(a.shape(), shape) << name;
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(expect(i, a.data()[i])) << name << "[" << i << "]";
    auto g = lagoon::load_hdf5_global<T>(rt, in(), name);
    ASSERT_EQ(g.shape(), shape) << name;
    const std::size_t first = g.local_rows().empty() ? 0 : g.local_rows().front() * g.row_size();
    for (std::size_t k = 0; k < g.local().size(); ++k)
      ASSERT_TRUE(expect(first + k, g.local()[k])) << name << " (global) [" << first + k << "]";
    lagoon::save_hdf5(a, out(), name);
    if (global_copy) lagoon::save_hdf5(g, out(), "global/" + name);
  }
};

TEST_F(Hdf5Test, NumbersBoolComplexAndStringsLoadEqualAndSaveBack) {
  auto i64 = [](std::size_t i) { return static_cast<std::int64_t>(i); };
  round_trip<double>("f8", {kRows}, [](std::size_t i, double x) { return records::same(x, records::value(i)); });
  round_trip<float>("f4", {kRows}, [](std::size_t i, float x) {
    return records::same(x, static_cast<float>(records::value(i)));
  });
  round_trip<std::int32_t>("i4", {kRows},
                           [&](std::size_t i, std::int32_t x) { return x == i64(i) * 100003 - 50000000; });
  round_trip<std::uint8_t>("u1", {kRows}, [&](std::size_t i, std::uint8_t x) { return x == (i * 37) % 256; });
  round_trip<std::int64_t>("i8", {kRows}, [&](std::size_t i, std::int64_t x) {
    return x == i64(i) * 1'000'000'000'000 - 500'000'000'000'000;
  });
  round_trip<bool>("b1", {kRows}, [](std::size_t i, bool x) { return x == (i % 3 == 0); });
  round_trip<std::complex<double>>("c16", {kRows}, [](std::size_t i, std::complex<double> x) {
    return x == std::complex<double>(static_cast<double>(i), -static_cast<double>(i) / 2);
  });
  round_trip<lagoon::fixed_string<6>>("S6", {kRows}, [](std::size_t i, const lagoon::fixed_string<6>& s) {
    return s == lagoon::fixed_string<6>(records::text(i));
  });
  round_trip<double>(
      "f8_2d", {1000, 3}, [](std::size_t i, double x) { return x == static_cast<double>(i) * 1.5; }, true);
}

TEST_F(Hdf5Test, CompoundsLoadIntoDescribedRecordsInEitherLayout) {
  const auto trade = [](std::size_t i, const Trade& t) {
    const Trade e = records::trade(i);
    return t.when == e.when && records::same(t.price, e.price) && t.qty == e.qty && t.code == e.code;
  };
  round_trip<Trade>("trades", {kRows}, trade, true);
  round_trip<Trade>("group/sub/trades_aligned", {kRows}, trade);
  // Records lagoon makes itself, for h5py to read.
  auto& rt = runtime();
  lagoon::SharedArray<Trade> t(rt, {2 * kRows});
  for (auto i : lagoon::node_share(rt, t.size())) t[i] = records::trade(i);
  t.fence();
  lagoon::save_hdf5(t, out(), "made/trades");
  auto back = lagoon::load_hdf5<Trade>(rt, out(), "made/trades");
  ASSERT_EQ(back.size(), 2 * kRows);
  for (std::size_t i = 0; i < back.size(); ++i) ASSERT_TRUE(trade(i, back[i])) << i;
}

TEST_F(Hdf5Test, BadFilesDatasetsAndTypesAreFormatErrorsOnEveryRank) {
  auto& rt = runtime();
  using lagoon::FormatError;
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<double>(rt, dir() + "/missing.h5", "/x"); },
                                  "missing.h5': no such file"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<double>(rt, in(), "/nothing"); },
                                  "no dataset '/nothing'"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<double>(rt, in(), "group/none/x"); },
                                  "'group/none' does not exist"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5_global<double>(rt, in(), "i4"); },
                                  "'i4' holds int32, but double is float64"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<std::uint32_t>(rt, in(), "i4"); }, "is uint32"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<lagoon::fixed_string<5>>(rt, in(), "S6"); },
                                  "holds string[6]"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<records::Row>(rt, in(), "trades"); },
                                  "holds {when: int64, price: float64, qty: int64, code: string[6]}"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<double>(rt, in(), "scalar"); }, "has rank 0"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<lagoon::fixed_string<2>>(rt, in(), "vlen"); },
                                  "variable-length string"));
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<double>(rt, in() + ".not", "/x"); }, "no such file"));
  // A file that is not HDF5.
  const std::string text = dir() + "/not-hdf5-" + std::to_string(rt.size()) + ".h5";
  if (rt.rank() == 0) std::ofstream(text) << "plain text\n";
  rt.barrier();
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_hdf5<double>(rt, text, "/x"); }, "not an HDF5 file"));
  lagoon::SharedArray<double> a(rt, {4});
  EXPECT_TRUE(throws<FormatError>([&] { lagoon::save_hdf5(a, dir() + "/no/such/dir/a.h5", "/a"); }, "cannot write"));
}

}  // namespace
