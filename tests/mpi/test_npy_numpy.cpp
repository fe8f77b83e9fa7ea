// .npy files through NumPy: files that NumPy wrote (tests/npy/numpy_files.py make)
// load element by element equal to the values both sides compute, and lagoon saves
// them again (out-<ranks>x<nodes>/) for NumPy to check (numpy_files.py verify).
#include <complex>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "records.hpp"
#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using records::Row;
using records::Sample;
using records::Trade;

class NumpyFileTest : public lagoon::testing::MpiTest {
 protected:
  static std::string in(const std::string& name) { return dir() + "/" + name + ".npy"; }
  /// Loads `name`, checks every element with `expect(i, element)`, saves it to out-*/.
  template <class T, class Check>
  static void round_trip(const std::string& name, std::size_t rows, Check expect,
                         lagoon::npy_layout layout = lagoon::npy_layout::aligned) {
    auto& rt = runtime();
    auto a = lagoon::load_npy<T>(rt, in(name));
    ASSERT_EQ(a.shape(), std::vector<std::size_t>{rows}) << name;
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(expect(i, a[i])) << name << "[" << i << "]";
    lagoon::save_npy(a, out_dir() + "/" + name + ".npy", layout);
  }
  static std::string dir() {
    const char* d = std::getenv("LAGOON_NPY_DIR");
    return d ? d : "npy";
  }
  static std::string out_dir() {
    auto& rt = runtime();
    const std::string d = dir() + "/out-" + std::to_string(rt.size()) + "x" + std::to_string(rt.node_count());
    if (rt.rank() == 0) std::filesystem::create_directories(d);
    return d;
  }
};

template <class T>
T wrap(std::int64_t v) {
  return static_cast<T>(v);
}

TEST_F(NumpyFileTest, EveryPlainDtypeLoadsEqualAndSavesBack) {
  using records::kRows;
  auto i64 = [](std::size_t i) { return static_cast<std::int64_t>(i); };
  round_trip<double>("f8", kRows, [](std::size_t i, double x) { return records::same(x, records::value(i)); });
  round_trip<float>("f4", kRows,
                    [](std::size_t i, float x) { return records::same(x, static_cast<float>(records::value(i))); });
  round_trip<std::int8_t>("i1", kRows, [&](std::size_t i, std::int8_t x) { return x == (i64(i) * 37) % 256 - 128; });
  round_trip<std::int16_t>("i2", kRows,
                           [&](std::size_t i, std::int16_t x) { return x == (i64(i) * 1009) % 65536 - 32768; });
  round_trip<std::int32_t>("i4", kRows, [&](std::size_t i, std::int32_t x) { return x == i64(i) * 100003 - 50000000; });
  round_trip<std::int64_t>("i8", kRows, [&](std::size_t i, std::int64_t x) {
    return x == i64(i) * 1'000'000'000'000 - 500'000'000'000'000;
  });
  round_trip<std::uint8_t>("u1", kRows, [&](std::size_t i, std::uint8_t x) { return x == (i * 37) % 256; });
  round_trip<std::uint16_t>("u2", kRows, [&](std::size_t i, std::uint16_t x) { return x == (i * 1009) % 65536; });
  round_trip<std::uint32_t>("u4", kRows,
                            [&](std::size_t i, std::uint32_t x) { return x == (i * 4000037) % (1ull << 32); });
  round_trip<std::uint64_t>("u8", kRows,
                            [&](std::size_t i, std::uint64_t x) { return x == std::uint64_t{i} * (1ull << 54) + i; });
  round_trip<bool>("b1", kRows, [](std::size_t i, bool x) { return x == (i % 3 == 0); });
  round_trip<std::complex<float>>("c8", kRows, [](std::size_t i, std::complex<float> x) {
    return x == std::complex<float>(static_cast<float>(i), -static_cast<float>(i) / 2);
  });
  round_trip<std::complex<double>>("c16", kRows, [](std::size_t i, std::complex<double> x) {
    return x == std::complex<double>(static_cast<double>(i), -static_cast<double>(i) / 2);
  });
  round_trip<lagoon::datetime64>("M8", kRows,
                                 [](std::size_t i, lagoon::datetime64 t) { return t == records::time(i); });
  round_trip<lagoon::fixed_string<6>>("S6", kRows, [](std::size_t i, const lagoon::fixed_string<6>& s) {
    return s == lagoon::fixed_string<6>(records::text(i));  // NumPy truncated "toolong" as lagoon does
  });
  round_trip<double>("f8_empty", 0, [](std::size_t, double) { return false; });

  auto& rt = runtime();
  auto m = lagoon::load_npy<double>(rt, in("f8_2d"));
  ASSERT_EQ(m.shape(), (std::vector<std::size_t>{3, 4}));
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) EXPECT_EQ(m(r, c), static_cast<double>(r * 4 + c) * 1.5);
  lagoon::save_npy(m, out_dir() + "/f8_2d.npy");
}

TEST_F(NumpyFileTest, RecordArraysWithDatetimeFloatAndS6Fields) {
  using records::kRows;
  const auto row = [](std::size_t i, const Row& r) {
    return r.date == records::time(i) && records::same(r.val, records::value(i)) &&
           r.code == lagoon::fixed_string<6>(records::text(i));
  };
  const auto trade = [](std::size_t i, const Trade& t) {
    const Trade e = records::trade(i);
    return t.when == e.when && records::same(t.price, e.price) && t.qty == e.qty && t.code == e.code;
  };
  const auto sample = [](std::size_t i, const Sample& s) {
    const double d = static_cast<double>(i);
    return s.id == static_cast<std::int16_t>(i % 30000) && s.xyz[0] == static_cast<float>(d * 0.5) &&
           s.xyz[1] == static_cast<float>(-d * 0.5) && s.xyz[2] == static_cast<float>(d * 0.25) &&
           s.flag == static_cast<std::uint8_t>(i % 256) && s.ok == (i % 2 == 1) && s.z == std::complex<double>(d, -d);
  };
  round_trip<Row>("row", kRows, row);
  round_trip<Trade>("trade", kRows, trade);
  round_trip<Sample>("sample", kRows, sample);
  // NumPy's packed layout (fields back to back) loads into the same structs, and saves
  // back packed.
  const auto packed = lagoon::npy_layout::packed;
  round_trip<Row>("row_packed", kRows, row, packed);
  round_trip<Trade>("trade_packed", kRows, trade, packed);
  round_trip<Sample>("sample_packed", kRows, sample, packed);
  // The article's workload on the loaded records: nansum of the float column.
  auto& rt = runtime();
  auto rows = lagoon::load_npy<Row>(rt, in("row"));
  double expected = 0;
  for (std::size_t i = 0; i < kRows; ++i)
    if (!std::isnan(records::value(i))) expected += records::value(i);
  EXPECT_EQ(lagoon::nansum(rt, rows.column(&Row::val)), expected);

  // Records lagoon makes itself, for NumPy to read.
  lagoon::SharedArray<Trade> t(rt, {2 * kRows});
  for (auto i : lagoon::node_share(rt, t.size())) t[i] = records::trade(i);
  t.fence();
  lagoon::save_npy(t, out_dir() + "/trades.npy");
  lagoon::save_npy(t, out_dir() + "/trades_packed.npy", lagoon::npy_layout::packed);
}

TEST_F(NumpyFileTest, NumpysOwnOddFilesAreRefused) {
  auto& rt = runtime();
  using lagoon::testing::throws;
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<Row>(rt, in("row_swapped")); },
                                          "names, types and order must match"));
  EXPECT_TRUE(
      throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<double>(rt, in("f8_fortran")); }, "Fortran-order"));
  EXPECT_TRUE(throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<double>(rt, in("f8_big")); }, "big-endian"));
  EXPECT_TRUE(
      throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<double>(rt, in("object")); }, "pickled Python objects"));
  EXPECT_TRUE(
      throws<lagoon::FormatError>([&] { (void)lagoon::load_npy<Trade>(rt, in("row")); }, "its dtype is [('date'"));
}

}  // namespace
