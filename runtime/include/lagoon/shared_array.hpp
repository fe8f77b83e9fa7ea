// SharedArray<T>: an N-d array with one copy per node, in a shared window that
// every rank of the node reads and writes in place.
#pragma once

#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "lagoon/column.hpp"
#include "lagoon/detail/replica.hpp"
#include "lagoon/detail/shape.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/error.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/shareable.hpp"

namespace lagoon {

template <class T>
class SharedArray;

namespace detail {
/// The replica under an array (for the algorithms and I/O).
template <class T>
[[nodiscard]] const Replica& replica_of(const SharedArray<T>& array) noexcept;
/// Takes the replica out of an array, which is left moved from (for ObjectStore::adopt).
template <class T>
[[nodiscard]] Replica take_replica(SharedArray<T>&& array) noexcept;
}  // namespace detail

/// An N-d, row-major array of T, zero-filled, one copy per node.
///
/// Visibility: a write by one rank is seen by the other ranks of its node after
/// `fence()`, and by the other nodes after `publish(root)`.
///
/// Moved from, an array is empty (shape {}, size 0) and every other call throws
/// InvalidArgument; element access (`a(i, j)`, `a[i]`) is unchecked, as std::vector's.
///
/// **Example**:
///   lagoon::SharedArray<double> a(rt, {1000, 3});   // collective; 24 kB per node
///   for (auto i : lagoon::node_share(rt, 1000)) a(i, 0) = 1.0;
///   a.fence();                                       // every rank of the node sees column 0
///   a.publish(0);                                    // every node holds rank 0's node's copy
template <class T>
class SharedArray {
  static_assert(Shareable<T>,
                "lagoon::SharedArray<T> needs a Shareable T (trivially copyable, holding no pointer): its bytes "
                "are shared between processes, where a pointer means nothing. For a type that owns memory "
                "(std::string, std::vector, a struct holding one), use the serialized path: lagoon::ObjectStore "
                "(put/get by reference) or lagoon::SharedMap.");

 public:
  using value_type = T;

  /// @note collective over the world; throws (on every rank) ShapeError for an empty
  /// shape, an element count that overflows, or shapes that differ between ranks, and
  /// OutOfMemory when a node lacks the memory.
  SharedArray(const Runtime& rt, std::initializer_list<std::size_t> shape)
      : SharedArray(rt, std::span<const std::size_t>(shape.begin(), shape.size())) {}
  SharedArray(const Runtime& rt, std::span<const std::size_t> shape)
      : shape_(shape.begin(), shape.end()),
        size_(detail::agreed_element_count(rt, shape_, sizeof(T), describe(shape_))),
        replica_(rt, size_ * sizeof(T), alignof(T) > 64 ? alignof(T) : 64, describe(shape_)),
        data_(reinterpret_cast<T*>(replica_.data())) {}
  SharedArray(const Runtime& rt, const std::vector<std::size_t>& shape)
      : SharedArray(rt, std::span<const std::size_t>(shape)) {}
  SharedArray(SharedArray&& other) noexcept
      : shape_(std::exchange(other.shape_, {})),
        size_(std::exchange(other.size_, 0)),
        replica_(std::move(other.replica_)),
        data_(std::exchange(other.data_, nullptr)) {}
  /// Frees this array's own copy first. @note collective over the node
  SharedArray& operator=(SharedArray&& other) noexcept {
    if (this != &other) {
      shape_ = std::exchange(other.shape_, {});
      size_ = std::exchange(other.size_, 0);
      replica_ = std::move(other.replica_);
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }
  /// Frees the node's copy (nothing, once moved from). @note collective over the node
  ~SharedArray() = default;

  [[nodiscard]] const std::vector<std::size_t>& shape() const noexcept { return shape_; }
  [[nodiscard]] std::size_t ndim() const noexcept { return shape_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return size_ * sizeof(T); }

  /// The node's copy. Throws RuntimeFinalized after the Runtime is gone.
  [[nodiscard]] T* data() {
    replica_.check();
    return data_;
  }
  [[nodiscard]] const T* data() const {
    replica_.check();
    return data_;
  }
  [[nodiscard]] std::span<T> span() { return {data(), size_}; }
  [[nodiscard]] std::span<const T> span() const { return {data(), size_}; }

  /// Row-major element access, one index per dimension; unchecked.
  template <std::integral... I>
  [[nodiscard]] T& operator()(I... index) noexcept {
    return data_[flat(index...)];
  }
  template <std::integral... I>
  [[nodiscard]] const T& operator()(I... index) const noexcept {
    return data_[flat(index...)];
  }
  /// Element `i` of the flattened array; unchecked.
  [[nodiscard]] T& operator[](std::size_t i) noexcept { return data_[i]; }
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return data_[i]; }

  /// A strided view of one field of every record, for a struct T:
  /// `t.column(&Trade::price)` is a Column<double> that reduce, for_each and nansum accept.
  template <class F, class R = T>
    requires std::is_class_v<R>
  [[nodiscard]] Column<F> column(F R::*field) {
    return {reinterpret_cast<F*>(reinterpret_cast<std::byte*>(data()) + detail::member_offset(field)), size_, sizeof(T),
            &replica_};
  }
  template <class F, class R = T>
    requires std::is_class_v<R>
  [[nodiscard]] Column<const F> column(F R::*field) const {
    return {reinterpret_cast<const F*>(reinterpret_cast<const std::byte*>(data()) + detail::member_offset(field)),
            size_, sizeof(T), &replica_};
  }

  /// Writes by any rank of the node before fence() are seen by all its ranks after.
  /// @note collective over the node
  void fence() const { replica_.fence(); }
  /// Every node's copy becomes world rank `root`'s node's copy. Throws InvalidArgument
  /// (on every rank) for a root out of range or roots that differ between ranks.
  /// @note collective over the world
  void publish(int root) const { replica_.publish(root); }

 private:
  template <class U>
  friend const detail::Replica& detail::replica_of(const SharedArray<U>& array) noexcept;
  template <class U>
  friend detail::Replica detail::take_replica(SharedArray<U>&& array) noexcept;

  template <class... I>
  std::size_t flat(I... index) const noexcept {
    std::size_t offset = 0;
    std::size_t dim = 0;
    ((offset = offset * shape_[dim++] + static_cast<std::size_t>(index)), ...);
    return offset;
  }

  static std::string describe(const std::vector<std::size_t>& shape) {
    std::string text = "lagoon::SharedArray<" + std::string(detail::type_name<T>()) + "> of shape {";
    for (std::size_t d = 0; d < shape.size(); ++d) text += (d ? ", " : "") + std::to_string(shape[d]);
    return text + "}";
  }

  std::vector<std::size_t> shape_;
  std::size_t size_ = 0;
  detail::Replica replica_;
  T* data_ = nullptr;
};

template <class T>
const detail::Replica& detail::replica_of(const SharedArray<T>& array) noexcept {
  return array.replica_;
}

template <class T>
detail::Replica detail::take_replica(SharedArray<T>&& array) noexcept {
  SharedArray<T> taken(std::move(array));  // `array` is now moved from, as a move leaves it
  return std::move(taken.replica_);
}

}  // namespace lagoon
