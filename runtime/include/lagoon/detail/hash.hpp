// FNV-1a: the one hash lagoon uses for fingerprints that must match on every rank
// (shapes, roots, type names, map keys). Stable across builds and platforms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lagoon::detail {

[[nodiscard]] constexpr std::uint64_t fnv1a(std::string_view bytes, std::uint64_t seed = 14695981039346656037ull) {
  for (char c : bytes) seed = (seed ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return seed;
}

/// FNV-1a over raw bytes.
[[nodiscard]] inline std::uint64_t fingerprint(const void* data, std::size_t bytes,
                                               std::uint64_t seed = 14695981039346656037ull) {
  return fnv1a(std::string_view(static_cast<const char*>(data), bytes), seed);
}

}  // namespace lagoon::detail
