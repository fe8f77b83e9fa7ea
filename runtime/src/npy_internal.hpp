// What the .npy reader and the header parser share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lagoon::detail {

/// Throws FormatError: "lagoon::load_npy: '<file>': <why> (world rank R)".
[[noreturn]] void npy_error(const std::string& file, const std::string& why);
/// The product of `shape`'s extents; npy_error("<what> is too large") past `limit`.
[[nodiscard]] std::uint64_t shape_product(const std::vector<std::size_t>& shape, std::uint64_t limit,
                                          const std::string& file, const char* what);

}  // namespace lagoon::detail
