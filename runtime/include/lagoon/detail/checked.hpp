// The one overflow check for products of extents (array shapes, .npy shapes): no MPI,
// so the .npy header parser and its fuzz target use it too.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace lagoon::detail {

/// The product of `extents`, or nothing when it would exceed `limit`.
[[nodiscard]] constexpr std::optional<std::uint64_t> checked_product(std::span<const std::size_t> extents,
                                                                     std::uint64_t limit) noexcept {
  std::uint64_t n = 1;
  for (std::size_t extent : extents) {
    if (extent != 0 && n > limit / extent) return std::nullopt;
    n *= extent;
  }
  return n;
}

}  // namespace lagoon::detail
