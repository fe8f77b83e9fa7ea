// Record arrays: the NumPy dtype of a described struct, fixed-length strings,
// column views in reduce/for_each/nansum, and .npy files saved and loaded by lagoon,
// including every malformed file a user may hand it.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "records.hpp"
#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;
using records::Row;
using records::Sample;
using records::Trade;

class RecordTest : public lagoon::testing::MpiTest {};

/// A directory every rank names alike (world rank 0's choice), made by rank 0.
std::string scratch_dir() {
  auto& rt = runtime();
  char name[256] = {};
  if (rt.rank() == 0) {
    const auto dir = std::filesystem::temp_directory_path() / ("lagoon-npy-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::snprintf(name, sizeof name, "%s", dir.c_str());
  }
  MPI_Bcast(name, sizeof name, MPI_CHAR, 0, rt.world());
  return name;
}

TEST_F(RecordTest, DescribedStructsHaveNumpysDtype) {
  EXPECT_EQ(lagoon::numpy_descr<Trade>(),
            "[('when', '<M8[ns]'), ('price', '<f8'), ('qty', '<i8'), ('code', '|S6'), ('', '|V2')]");
  EXPECT_EQ(lagoon::numpy_descr<Row>(), "[('date', '<M8[ns]'), ('val', '<f8'), ('code', '|S6'), ('', '|V2')]");
  EXPECT_EQ(lagoon::numpy_descr<Sample>(),
            "[('id', '<i2'), ('', '|V2'), ('xyz', '<f4', (3,)), ('flag', '|u1'), ('ok', '|b1'), ('', '|V6'), "
            "('z', '<c16')]");
  EXPECT_EQ(lagoon::numpy_descr<double>(), "'<f8'");
  EXPECT_EQ(lagoon::numpy_descr<std::int8_t>(), "'|i1'");
  EXPECT_EQ(lagoon::numpy_descr<std::uint32_t>(), "'<u4'");
  EXPECT_EQ(lagoon::numpy_descr<lagoon::datetime64>(), "'<M8[ns]'");
  EXPECT_EQ(lagoon::numpy_descr<std::chrono::sys_time<std::chrono::microseconds>>(), "'<M8[us]'");
  EXPECT_EQ(lagoon::numpy_descr<lagoon::fixed_string<6>>(), "'|S6'");
  EXPECT_EQ(sizeof(Row), 24u);  // 10 million rows: 240 MB, the article's record array
  static_assert(lagoon::Shareable<Trade> && lagoon::Shareable<lagoon::fixed_string<6>>);
}

TEST_F(RecordTest, FixedStringsTruncateAndPadLikeNumpysS6) {
  lagoon::fixed_string<6> s("toolong");
  EXPECT_EQ(s.view(), "toolon");  // the first 6 bytes, as NumPy's S6 keeps them
  lagoon::fixed_string<6> abc("abc");
  EXPECT_EQ(abc.view(), "abc");
  EXPECT_EQ(std::string(abc.data(), 6), std::string("abc\0\0\0", 6));  // zero-padded in memory
  EXPECT_EQ(lagoon::fixed_string<6>(std::string_view("x\0y", 3)).view(), std::string_view("x\0y", 3));
  EXPECT_EQ(lagoon::fixed_string<6>("ab\0\0").view(), "ab");  // trailing zeros are padding
  EXPECT_EQ(lagoon::fixed_string<6>().view(), "");
  EXPECT_TRUE(abc == "abc");
  EXPECT_LT(abc, s);
  EXPECT_EQ(lagoon::fixed_string<6>::checked("string").view(), "string");
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([] { (void)lagoon::fixed_string<6>::checked("toolong"); },
                                              "has 7 bytes, more than 6"));
}

TEST_F(RecordTest, ColumnsAreStridedViewsOfTheNodeCopy) {
  auto& rt = runtime();
  lagoon::SharedArray<Trade> t(rt, {records::kRows});
  for (auto i : lagoon::node_share(rt, t.size())) t[i] = records::trade(i);
  t.fence();
  auto price = t.column(&Trade::price);
  auto code = std::as_const(t).column(&Trade::code);
  static_assert(std::is_same_v<decltype(code), lagoon::Column<const lagoon::fixed_string<6>>>);
  static_assert(std::random_access_iterator<lagoon::Column<double>::iterator>);
  ASSERT_EQ(price.size(), records::kRows);
  EXPECT_EQ(price.stride(), sizeof(Trade));
  EXPECT_EQ(&price[17], &t[17].price);  // an alias of the array, not a copy
  EXPECT_EQ(&*(price.begin() + 17), &t[17].price);
  EXPECT_EQ(price.end() - price.begin(), static_cast<std::ptrdiff_t>(records::kRows));
  std::size_t i = 0;
  for (const auto& c : code) EXPECT_EQ(c, lagoon::fixed_string<6>(records::text(i++)));
  rt.barrier();
}

TEST_F(RecordTest, ReduceForEachAndNansumTakeColumns) {
  auto& rt = runtime();
  lagoon::SharedArray<Trade> t(rt, {records::kRows});
  for (auto i : lagoon::node_share(rt, t.size())) t[i] = records::trade(i);
  t.fence();
  std::int64_t qty = 0;
  double prices = 0;
  for (std::size_t i = 0; i < records::kRows; ++i) {
    qty += records::trade(i).qty;
    if (!std::isnan(records::value(i))) prices += records::value(i);
  }
  EXPECT_EQ(lagoon::reduce(rt, t.column(&Trade::qty), std::int64_t{0}, std::plus<>{}), qty);
  EXPECT_EQ(lagoon::nansum(rt, t.column(&Trade::price)), prices);  // quarters: exact in any order
  EXPECT_TRUE(std::isnan(lagoon::reduce(rt, t.column(&Trade::price), 0.0, std::plus<>{})));  // NaN propagates

  // for_each on a column changes that field only, on every node's copy.
  lagoon::for_each(rt, t.column(&Trade::qty), [](std::int64_t& q) { q *= 2; });
  for (std::size_t i = 0; i < records::kRows; ++i) {
    ASSERT_EQ(t[i].qty, 2 * records::trade(i).qty) << "row " << i;
    ASSERT_TRUE(records::same(t[i].price, records::value(i))) << "row " << i;
  }

  lagoon::SharedArray<double> nans(rt, {100});
  for (auto i : lagoon::node_share(rt, nans.size())) nans[i] = std::numeric_limits<double>::quiet_NaN();
  nans.fence();
  EXPECT_EQ(lagoon::nansum(rt, nans), 0.0);  // NumPy: nansum of all-NaN is 0
  lagoon::SharedArray<float> f(rt, {1000});
  for (auto i : lagoon::node_share(rt, f.size())) f[i] = i % 2 ? 0.5f : std::nanf("");
  f.fence();
  EXPECT_EQ(lagoon::nansum(rt, f), 250.0f);
  rt.barrier();
}

TEST_F(RecordTest, SavedRecordArraysLoadBackOnEveryNode) {
  auto& rt = runtime();
  const std::string dir = scratch_dir();
  lagoon::SharedArray<Trade> t(rt, {records::kRows});
  for (auto i : lagoon::node_share(rt, t.size())) t[i] = records::trade(i);
  t.fence();
  lagoon::save_npy(t, dir + "/t.npy");
  auto back = lagoon::load_npy<Trade>(rt, dir + "/t.npy");
  ASSERT_EQ(back.shape(), t.shape());
  for (std::size_t i = 0; i < records::kRows; ++i) {
    ASSERT_EQ(back[i].when, t[i].when);
    ASSERT_TRUE(records::same(back[i].price, t[i].price));
    ASSERT_EQ(back[i].qty, t[i].qty);
    ASSERT_EQ(back[i].code, t[i].code);
  }
  lagoon::SharedArray<double> m(rt, {3, 5});
  for (auto i : lagoon::node_share(rt, m.size())) m[i] = static_cast<double>(i);
  m.fence();
  lagoon::save_npy(m, dir + "/m.npy");
  auto m2 = lagoon::load_npy<double>(rt, dir + "/m.npy");
  EXPECT_EQ(m2.shape(), (std::vector<std::size_t>{3, 5}));
  EXPECT_EQ(m2(2, 4), 14.0);
  // A loaded array is the node's one copy: a write by one rank is seen by its node's others.
  rt.barrier();
  if (rt.node_rank() == rt.node_size() - 1) m2(0, 0) = 100.0 + rt.node();
  m2.fence();
  EXPECT_EQ(m2(0, 0), 100.0 + rt.node());
  rt.barrier();
  if (rt.rank() == 0) std::filesystem::remove_all(dir);
}

/// Writes `bytes` as `name` in `dir` (world rank 0), for every rank to load.
std::string put_file(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  if (runtime().rank() == 0) std::ofstream(path, std::ios::binary) << bytes;
  runtime().barrier();
  return path;
}

std::string header(const std::string& dict, char major = 1) {
  std::string h = "\x93NUMPY";
  h += major;
  h += '\0';
  std::string body = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  body.append(63 - (prefix + body.size()) % 64, ' ');
  body += '\n';
  for (int b = 0; b < (major == 1 ? 2 : 4); ++b) h += static_cast<char>((body.size() >> (8 * b)) & 0xff);
  return h + body;
}

TEST_F(RecordTest, MalformedFilesAreFormatErrorsOnEveryRank) {
  auto& rt = runtime();
  const std::string dir = scratch_dir();
  const std::string good = "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }";
  const std::string data(32, '\0');
  auto load = [&](const std::string& name, const std::string& bytes) {
    const std::string path = put_file(dir, name, bytes);
    return [&rt, path] { (void)lagoon::load_npy<double>(rt, path); };
  };
  using lagoon::FormatError;
  // The good file loads: the cases below differ from it in one thing each.
  EXPECT_EQ(lagoon::load_npy<double>(rt, put_file(dir, "good.npy", header(good) + data)).size(), 4u);
  EXPECT_EQ(lagoon::load_npy<double>(rt, put_file(dir, "v2.npy", header(good, 2) + data)).size(), 4u);
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_npy<double>(rt, dir + "/missing.npy"); }, "cannot open"));
  EXPECT_TRUE(throws<FormatError>(load("magic.npy", "PK\x03\x04 not numpy at all"), "not a .npy file"));
  EXPECT_TRUE(throws<FormatError>(load("empty.npy", ""), "not a .npy file"));
  EXPECT_TRUE(throws<FormatError>(load("version.npy", header(good, 9) + data), "format version 9.0"));
  EXPECT_TRUE(throws<FormatError>(load("cut_header.npy", header(good).substr(0, 40)), "ends inside its header"));
  EXPECT_TRUE(throws<FormatError>(load("cut_data.npy", header(good) + data.substr(0, 31)),
                                  "truncated: the header promises 32 bytes of data, the file holds 31"));
  EXPECT_TRUE(throws<FormatError>(load("long.npy", header(good) + data + "xx"), "2 bytes more than its header"));
  EXPECT_TRUE(throws<FormatError>(load("garbage.npy", header("{'descr': '<f8', 'fortran_order': Fa") + data),
                                  "corrupt header"));
  EXPECT_TRUE(throws<FormatError>(load("not_dict.npy", header("['<f8', False, (4,)]") + data), "not a dict"));
  EXPECT_TRUE(throws<FormatError>(load("no_shape.npy", header("{'descr': '<f8', 'fortran_order': False}") + data),
                                  "exactly 'descr', 'fortran_order' and 'shape'"));
  EXPECT_TRUE(
      throws<FormatError>(load("neg.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': (-4,), }") + data),
                          "other than sizes"));
  EXPECT_TRUE(
      throws<FormatError>(load("deep.npy", header("{'descr': " + std::string(40, '[') + "'<f8'" + std::string(40, ']') +
                                                  ", 'fortran_order': False, 'shape': (4,), }") +
                                               data),
                          "nesting deeper"));
  EXPECT_TRUE(throws<FormatError>(
      load("fortran.npy", header("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }") + data),
      "Fortran-order"));
  EXPECT_TRUE(throws<FormatError>(
      load("big.npy", header("{'descr': '>f8', 'fortran_order': False, 'shape': (4,), }") + data), "big-endian"));
  EXPECT_TRUE(
      throws<FormatError>(load("f4.npy", header("{'descr': '<f4', 'fortran_order': False, 'shape': (8,), }") + data),
                          "its dtype is '<f4', but double is '<f8'"));
  EXPECT_TRUE(
      throws<FormatError>(load("object.npy", header("{'descr': '|O', 'fortran_order': False, 'shape': (4,), }") + data),
                          "pickled Python objects"));
  EXPECT_TRUE(throws<FormatError>(
      load("unit.npy", header("{'descr': '<M8[xs]', 'fortran_order': False, 'shape': (4,), }") + data),
      "an unknown time unit [xs]"));
  EXPECT_TRUE(throws<FormatError>(
      load("scalar.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }") + data.substr(0, 8)),
      "a 0-d array"));
  EXPECT_TRUE(throws<FormatError>(
      load("huge.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 8), }") + data),
      "too large"));
  // A record file whose fields sit elsewhere than the struct's (NumPy's packed layout)
  // loads, repacked; the same fields in another order, or another type, do not.
  std::string rows;
  for (std::int64_t k = 0; k < 3; ++k) {
    const std::int64_t when = 1'600'000'000'000'000'000 + k;
    const double val = 0.5 + static_cast<double>(k);
    rows.append(reinterpret_cast<const char*>(&when), 8).append(reinterpret_cast<const char*>(&val), 8);
    rows += "code" + std::to_string(k) + "!";  // 6 bytes: S6
  }
  const std::string packed =
      put_file(dir, "packed.npy",
               header("{'descr': [('date', '<M8[ns]'), ('val', '<f8'), ('code', '|S6')], 'fortran_order': False, "
                      "'shape': (3,), }") +
                   rows);
  auto loaded = lagoon::load_npy<Row>(rt, packed);
  ASSERT_EQ(loaded.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(loaded[k].date.time_since_epoch().count(), 1'600'000'000'000'000'000 + static_cast<std::int64_t>(k));
    EXPECT_EQ(loaded[k].val, 0.5 + static_cast<double>(k));
    EXPECT_EQ(loaded[k].code, "code" + std::to_string(k) + "!");
  }
  const std::string swapped =
      put_file(dir, "swapped.npy",
               header("{'descr': [('val', '<f8'), ('date', '<M8[ns]'), ('code', '|S6')], 'fortran_order': False, "
                      "'shape': (3,), }") +
                   rows);
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_npy<Row>(rt, swapped); }, "names, types and order"));
  const std::string retyped =
      put_file(dir, "retyped.npy",
               header("{'descr': [('date', '<M8[ns]'), ('val', '<i8'), ('code', '|S6')], 'fortran_order': False, "
                      "'shape': (3,), }") +
                   rows);
  EXPECT_TRUE(throws<FormatError>([&] { (void)lagoon::load_npy<Row>(rt, retyped); }, "its dtype is [('date'"));
  // A failed save leaves nothing behind and fails on every rank.
  lagoon::SharedArray<double> a(rt, {4});
  EXPECT_TRUE(throws<FormatError>([&] { lagoon::save_npy(a, dir + "/no/such/dir/a.npy"); }, "cannot write"));
  rt.barrier();
  if (rt.rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
