// Record types of the .npy and record-array tests, and the values
// tests/npy/numpy_files.py writes: formulas of the index i, computed alike on both sides.
#pragma once

#include <cmath>
#include <complex>
#include <cstdint>
#include <lagoon/lagoon.hpp>
#include <limits>
#include <string_view>

namespace records {

/// The article's record: a timestamp, a float with NaNs, a 6-byte string (24 bytes).
struct Row {
  lagoon::datetime64 date;
  double val;
  lagoon::fixed_string<6> code;
};
BOOST_DESCRIBE_STRUCT(Row, (), (date, val, code))

struct Trade {
  lagoon::datetime64 when;
  double price;
  std::int64_t qty;
  lagoon::fixed_string<6> code;
};
BOOST_DESCRIBE_STRUCT(Trade, (), (when, price, qty, code))

/// Padding in the middle, a subarray field, bool and complex fields.
struct Sample {
  std::int16_t id;
  float xyz[3];
  std::uint8_t flag;
  bool ok;
  std::complex<double> z;
};
BOOST_DESCRIBE_STRUCT(Sample, (), (id, xyz, flag, ok, z))

constexpr std::size_t kRows = 1001;
inline constexpr std::string_view kStrings[] = {"string",  "abc", "", "toolong", std::string_view("x\0y", 3),
                                                "\xc3\xa9"};
constexpr std::int64_t kBaseNs = 1'600'000'000'000'000'000;

inline double value(std::size_t i) {
  return i % 7 == 3 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(i) * 0.25 - 100.0;
}
inline lagoon::datetime64 time(std::size_t i) {
  if (i % 11 == 5) return lagoon::nat;
  return lagoon::datetime64(std::chrono::nanoseconds(kBaseNs + static_cast<std::int64_t>(i) * 1'000'000'007));
}
inline std::string_view text(std::size_t i) { return kStrings[i % 6]; }

inline Trade trade(std::size_t i) {
  return {time(i), value(i), static_cast<std::int64_t>(i) * 3 - 7, lagoon::fixed_string<6>(text(i))};
}

/// Equal, with NaN equal to NaN.
inline bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace records
