// Shapes of the arrays: the element count, checked and agreed on by every rank.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "lagoon/runtime.hpp"

namespace lagoon::detail {

/// The element count of `shape` for elements of `element_bytes` bytes. Throws
/// ShapeError, on every rank, for an empty shape, a count whose bytes overflow, or
/// shapes that differ between ranks; `what` names the array. @note collective over the world
[[nodiscard]] std::size_t agreed_element_count(const Runtime& rt, std::span<const std::size_t> shape,
                                               std::size_t element_bytes, const std::string& what);

}  // namespace lagoon::detail
