// The shape checks every array constructor runs: one agreement over the world.
#include "lagoon/detail/shape.hpp"

#include <limits>

#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/checked.hpp"
#include "lagoon/error.hpp"

namespace lagoon::detail {

std::size_t agreed_element_count(const Runtime& rt, std::span<const std::size_t> shape, std::size_t element_bytes,
                                 const std::string& what) {
  const SameOnAllRanks same{fingerprint(shape.data(), shape.size_bytes(), shape.size()), ErrorKind::shape,
                            what + ": every rank must pass the same shape"};
  std::size_t count = 1;
  agree(
      rt.world(),
      [&] {
        if (shape.empty()) throw ShapeError(what + ": a shape needs at least one dimension");
        const std::size_t limit = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / element_bytes;
        const auto product = checked_product(shape, limit);
        if (!product)
          throw ShapeError(what + ": the element count overflows (more than " + std::to_string(limit) +
                           " elements of " + std::to_string(element_bytes) + " bytes)");
        count = static_cast<std::size_t>(*product);
      },
      &same);
  return count;
}

}  // namespace lagoon::detail
