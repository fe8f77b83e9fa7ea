// Column<F>: a strided view of one field of every record of a SharedArray, which
// the algorithms (reduce, for_each, nansum) accept like an array.
#pragma once

#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

#include "lagoon/detail/replica.hpp"

namespace lagoon {

namespace detail {

/// The byte offset of `field` in a T, as offsetof would give it for a standard-layout T.
template <class T, class F>
[[nodiscard]] std::size_t member_offset(F T::*field) noexcept {
  union Probe {
    Probe() {}
    ~Probe() {}
    T record;
    unsigned char bytes[sizeof(T)];
  };
  static Probe probe;  // never read: only addresses are taken
  return static_cast<std::size_t>(reinterpret_cast<const unsigned char*>(&(probe.record.*field)) - probe.bytes);
}

}  // namespace detail

/// `size()` elements of type F (const F for a read-only view), `stride()` bytes apart.
/// A column aliases its array's node copy: it is valid while the array lives.
///
/// **Example**:
///   lagoon::SharedArray<Trade> t(rt, {n});
///   auto prices = t.column(&Trade::price);       // Column<double>
///   double total = lagoon::nansum(rt, prices);  // or lagoon::reduce(rt, prices, 0.0, std::plus<>{})
template <class F>
class Column {
  using Byte = std::conditional_t<std::is_const_v<F>, const std::byte, std::byte>;

 public:
  using value_type = std::remove_const_t<F>;
  using element_type = F;

  /// A random-access iterator over the column.
  class iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using iterator_concept = std::random_access_iterator_tag;
    using value_type = std::remove_const_t<F>;
    using difference_type = std::ptrdiff_t;
    using reference = F&;
    using pointer = F*;

    iterator() = default;
    iterator(Byte* at, std::size_t stride) noexcept : at_(at), stride_(static_cast<std::ptrdiff_t>(stride)) {}
    [[nodiscard]] F& operator*() const noexcept { return *reinterpret_cast<F*>(at_); }
    [[nodiscard]] F* operator->() const noexcept { return reinterpret_cast<F*>(at_); }
    [[nodiscard]] F& operator[](difference_type n) const noexcept { return *reinterpret_cast<F*>(at_ + n * stride_); }
    iterator& operator++() noexcept { return at_ += stride_, *this; }
    iterator operator++(int) noexcept { return std::exchange(*this, *this + 1); }
    iterator& operator--() noexcept { return at_ -= stride_, *this; }
    iterator operator--(int) noexcept { return std::exchange(*this, *this - 1); }
    iterator& operator+=(difference_type n) noexcept { return at_ += n * stride_, *this; }
    iterator& operator-=(difference_type n) noexcept { return at_ -= n * stride_, *this; }
    [[nodiscard]] friend iterator operator+(iterator i, difference_type n) noexcept { return i += n; }
    [[nodiscard]] friend iterator operator+(difference_type n, iterator i) noexcept { return i += n; }
    [[nodiscard]] friend iterator operator-(iterator i, difference_type n) noexcept { return i -= n; }
    [[nodiscard]] friend difference_type operator-(const iterator& a, const iterator& b) noexcept {
      return a.stride_ ? (a.at_ - b.at_) / a.stride_ : 0;
    }
    [[nodiscard]] friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.at_ == b.at_; }
    [[nodiscard]] friend auto operator<=>(const iterator& a, const iterator& b) noexcept { return a.at_ <=> b.at_; }

   private:
    Byte* at_ = nullptr;
    std::ptrdiff_t stride_ = 0;
  };

  Column() = default;
  /// `first` points at the field of record 0; `replica` is the array's (for for_each).
  Column(F* first, std::size_t size, std::size_t stride, const detail::Replica* replica) noexcept
      : first_(reinterpret_cast<Byte*>(first)), size_(size), stride_(stride), replica_(replica) {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// Bytes from one element to the next (the record's size).
  [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
  [[nodiscard]] F& operator[](std::size_t i) const noexcept { return *reinterpret_cast<F*>(first_ + i * stride_); }
  [[nodiscard]] iterator begin() const noexcept { return {first_, stride_}; }
  [[nodiscard]] iterator end() const noexcept { return {first_ + size_ * stride_, stride_}; }
  /// The replica of the array the column belongs to.
  [[nodiscard]] const detail::Replica* replica() const noexcept { return replica_; }

 private:
  Byte* first_ = nullptr;
  std::size_t size_ = 0;
  std::size_t stride_ = 0;
  const detail::Replica* replica_ = nullptr;
};

}  // namespace lagoon
