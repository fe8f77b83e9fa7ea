// The type-free core of GlobalArray<T>: the block distribution, the node's segment,
// and get/put/accumulate of byte ranges, local or through the transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "lagoon/runtime.hpp"
#include "lagoon/segment.hpp"

namespace lagoon::detail {

/// The element types `accumulate` can add atomically, as a value that crosses nodes.
enum class ElementKind : std::uint32_t { none = 0, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64 };

template <class T>
[[nodiscard]] constexpr ElementKind element_kind() noexcept {
  if constexpr (std::is_same_v<T, float>) return ElementKind::f32;
  else if constexpr (std::is_same_v<T, double>) return ElementKind::f64;
  else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    constexpr bool s = std::is_signed_v<T>;
    switch (sizeof(T)) {
      case 1: return s ? ElementKind::i8 : ElementKind::u8;
      case 2: return s ? ElementKind::i16 : ElementKind::u16;
      case 4: return s ? ElementKind::i32 : ElementKind::u32;
      case 8: return s ? ElementKind::i64 : ElementKind::u64;
      default: return ElementKind::none;
    }
  } else {
    return ElementKind::none;
  }
}

/// Adds `bytes` bytes of elements of `kind` from `src` (any alignment) into `dst`
/// (aligned), each element with one atomic read-modify-write.
void add_elements(ElementKind kind, std::byte* dst, const std::byte* src, std::size_t bytes);

class GlobalState;

/// Rows of `row_bytes` bytes, split in balanced blocks over the nodes; each node holds
/// its block in a Segment. Checks every range before any byte moves.
class GlobalCore {
 public:
  /// @note collective over the world
  GlobalCore(const Runtime& rt, std::span<const std::size_t> shape, std::size_t element_bytes, std::size_t alignment,
             ElementKind kind, std::string what);
  /// Waits until no rank has a request in flight, then frees the block.
  /// @note collective over the world (the node, once the Runtime is gone)
  ~GlobalCore();
  GlobalCore(const GlobalCore&) = delete;
  GlobalCore& operator=(const GlobalCore&) = delete;

  [[nodiscard]] const std::vector<std::size_t>& shape() const noexcept;
  [[nodiscard]] std::size_t rows() const noexcept;
  [[nodiscard]] std::size_t row_elements() const noexcept;
  /// First row held by node `node`; `node == node_count` gives rows().
  [[nodiscard]] std::size_t first_row(int node) const noexcept;
  /// This node's rows [local_begin, local_end).
  [[nodiscard]] std::size_t local_begin() const noexcept;
  [[nodiscard]] std::size_t local_end() const noexcept;
  /// This node's block; throws RuntimeFinalized after the Runtime is gone.
  [[nodiscard]] std::byte* local_data() const;
  /// Throws ShapeError unless row < rows().
  [[nodiscard]] int owner_node(std::size_t row) const;

  void get(std::size_t row_begin, std::size_t row_end, std::byte* out, std::size_t out_elements) const;
  void put(std::size_t row_begin, std::size_t row_end, const std::byte* in, std::size_t in_elements);
  void accumulate(std::size_t row_begin, std::size_t row_end, const std::byte* in, std::size_t in_elements);
  /// The patch [lo, hi) (one bound per dimension), packed row-major in the buffer: one
  /// request per other node that holds part of it.
  void get(std::span<const std::size_t> lo, std::span<const std::size_t> hi, std::byte* out,
           std::size_t out_elements) const;
  void put(std::span<const std::size_t> lo, std::span<const std::size_t> hi, const std::byte* in,
           std::size_t in_elements);
  void accumulate(std::span<const std::size_t> lo, std::span<const std::size_t> hi, const std::byte* in,
                  std::size_t in_elements);
  /// This rank's one-way requests applied at their owners; not collective.
  void flush() const;
  /// @note collective over the world
  void fence() const;
  [[nodiscard]] const std::string& what() const noexcept;
  /// The world communicator, and this rank's place in its node (for I/O).
  [[nodiscard]] MPI_Comm world() const;
  [[nodiscard]] int node_rank() const;
  [[nodiscard]] int node_size() const;

 private:
  std::unique_ptr<GlobalState> state_;
};

}  // namespace lagoon::detail
