// What the .npy reader and the header parser share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <optional>
#include <vector>

#include "lagoon/detail/dtype.hpp"

namespace lagoon::detail {

/// Throws FormatError: "lagoon::load_npy: '<file>': <why> (world rank R)".
[[noreturn]] void npy_error(const std::string& file, const std::string& why);
/// The product of `shape`'s extents; npy_error("<what> is too large") past `limit`.
[[nodiscard]] std::uint64_t shape_product(const std::vector<std::size_t>& shape, std::uint64_t limit,
                                          const std::string& file, const char* what);

/// A run of bytes that moves from one layout's item to another's.
struct FieldMove {
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::uint64_t bytes = 0;
};

/// The moves that turn an item of `from` into an item of `to` when both are records of
/// the same named fields (names, types and subarray shapes, in order, nested records
/// flattened) at any offsets; adjacent runs are merged. nullopt when the fields differ
/// or either is not a record.
[[nodiscard]] std::optional<std::vector<FieldMove>> field_moves(const Dtype& from, const Dtype& to);

/// `d` without its gaps: NumPy's default layout (`np.dtype([...])`, `align=False`).
[[nodiscard]] Dtype packed_dtype(const Dtype& d);

}  // namespace lagoon::detail
