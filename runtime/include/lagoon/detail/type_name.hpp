// Readable type names for error messages ("double", "Trade").
#pragma once

#include <string_view>

namespace lagoon::detail {

template <class T>
[[nodiscard]] constexpr std::string_view type_name() {
  std::string_view name = __PRETTY_FUNCTION__;  // "... type_name() [with T = double; ...]" (GCC) or "[T = double]" (Clang)
  const auto start = name.find("T = ") + 4;
  const auto end = name.find_first_of(";]", start);
  return name.substr(start, end - start);
}

}  // namespace lagoon::detail
