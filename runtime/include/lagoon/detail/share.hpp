// The one rule for splitting n items over p parts (ranks), used by every
// algorithm and by the exchange of shares between nodes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

namespace lagoon::detail {

/// [begin, end) of part `index` of `n` items split over `parts`: the first
/// n % parts parts get one item more, so the sizes differ by at most one.
[[nodiscard]] constexpr std::pair<std::size_t, std::size_t> share_bounds(std::size_t n, std::size_t parts,
                                                                         std::size_t index) noexcept {
  const std::size_t base = n / parts;
  const std::size_t extra = n % parts;
  const std::size_t begin = index * base + std::min(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

}  // namespace lagoon::detail
