// Record arrays: the field types NumPy record arrays hold (datetime64[ns], S<N>
// strings), and the NumPy dtype of a struct described with Boost.Describe.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <boost/describe.hpp>
#include <chrono>
#include <compare>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lagoon/column.hpp"
#include "lagoon/detail/dtype.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/error.hpp"

namespace lagoon {

/// A point in time in nanoseconds since 1970-01-01 UTC: NumPy's `datetime64[ns]`.
using datetime64 = std::chrono::sys_time<std::chrono::nanoseconds>;

/// NumPy's NaT ("not a time"): the smallest int64 count of nanoseconds.
inline constexpr datetime64 nat{std::chrono::nanoseconds{std::numeric_limits<std::int64_t>::min()}};

/// A string of at most N bytes stored in place, zero-padded: NumPy's `S<N>` dtype.
///
/// Rules, the same as NumPy's: a longer string is truncated to its first N bytes
/// (bytes, not characters: a UTF-8 sequence may be cut), and `view()` drops the
/// trailing zero bytes, so "abc" and "abc\0\0\0" read back alike. `checked()` throws
/// InvalidArgument instead of truncating.
///
/// **Example**: `lagoon::fixed_string<6> code("string"); code.view() == "string"`
template <std::size_t N>
class fixed_string {
  static_assert(N > 0, "lagoon::fixed_string<N> needs N > 0");

 public:
  constexpr fixed_string() noexcept = default;
  /// The first N bytes of `text`, zero-padded.
  constexpr fixed_string(std::string_view text) noexcept {  // NOLINT: converts like NumPy assigns
    std::copy_n(text.data(), std::min(text.size(), N), bytes_);
  }
  constexpr fixed_string(const char* text) noexcept : fixed_string(std::string_view(text)) {}  // NOLINT

  /// `text` if it fits; InvalidArgument if it has more than N bytes.
  [[nodiscard]] static fixed_string checked(std::string_view text) {
    if (text.size() > N)
      throw InvalidArgument("lagoon::fixed_string<" + std::to_string(N) + ">: \"" + std::string(text) + "\" has " +
                            std::to_string(text.size()) + " bytes, more than " + std::to_string(N));
    return fixed_string(text);
  }

  /// The text without its trailing zero bytes.
  [[nodiscard]] constexpr std::string_view view() const noexcept {
    std::size_t n = N;
    while (n > 0 && bytes_[n - 1] == '\0') --n;
    return {bytes_, n};
  }
  [[nodiscard]] std::string str() const { return std::string(view()); }
  /// All N bytes, padding included.
  [[nodiscard]] constexpr const char* data() const noexcept { return bytes_; }
  [[nodiscard]] constexpr char* data() noexcept { return bytes_; }
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }

  [[nodiscard]] friend constexpr bool operator==(const fixed_string& a, const fixed_string& b) noexcept {
    return a.view() == b.view();
  }
  [[nodiscard]] friend constexpr auto operator<=>(const fixed_string& a, const fixed_string& b) noexcept {
    return a.view() <=> b.view();
  }
  /// Compares with any text as it is (a longer text is unequal, not truncated).
  template <class S>
    requires(std::is_convertible_v<const S&, std::string_view> && !std::is_same_v<S, fixed_string>)
  [[nodiscard]] friend constexpr bool operator==(const fixed_string& a, const S& b) noexcept {
    return a.view() == std::string_view(b);
  }

 private:
  char bytes_[N] = {};
};

namespace detail {

template <class T>
struct is_fixed_string : std::false_type {};
template <std::size_t N>
struct is_fixed_string<fixed_string<N>> : std::integral_constant<std::size_t, N> {};

template <class T>
struct is_sys_time : std::false_type {};
template <class D>
struct is_sys_time<std::chrono::sys_time<D>> : std::true_type {};

template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};

template <class T>
struct is_std_array : std::false_type {};
template <class E, std::size_t N>
struct is_std_array<std::array<E, N>> : std::true_type {};

template <class P>
constexpr const char* time_unit() {
  if constexpr (std::is_same_v<P, std::nano>)
    return "ns";
  else if constexpr (std::is_same_v<P, std::micro>)
    return "us";
  else if constexpr (std::is_same_v<P, std::milli>)
    return "ms";
  else if constexpr (std::is_same_v<P, std::ratio<1>>)
    return "s";
  else if constexpr (std::is_same_v<P, std::ratio<60>>)
    return "m";
  else if constexpr (std::is_same_v<P, std::ratio<3600>>)
    return "h";
  else if constexpr (std::is_same_v<P, std::ratio<86400>>)
    return "D";
  else
    return nullptr;
}

template <class T>
constexpr bool always_false = false;

template <class T>
Dtype dtype_of();

/// The field's element dtype and subarray shape (C arrays and std::array fields).
template <class T>
void field_type(Dtype& type, std::vector<std::size_t>& shape) {
  if constexpr (std::is_array_v<T>) {
    shape.push_back(std::extent_v<T>);
    field_type<std::remove_extent_t<T>>(type, shape);
  } else if constexpr (is_std_array<T>::value) {
    shape.push_back(std::tuple_size_v<T>);
    field_type<typename T::value_type>(type, shape);
  } else {
    type = dtype_of<T>();
  }
}

template <class T>
Dtype struct_dtype() {
  static_assert(std::is_standard_layout_v<T>,
                "lagoon: a record type must be standard-layout (its fields' offsets are its NumPy dtype's)");
  static_assert(boost::mp11::mp_empty<boost::describe::describe_bases<T, boost::describe::mod_any_access>>::value,
                "lagoon: record types with base classes have no NumPy dtype; describe a flat struct");
  Dtype d;
  d.itemsize = sizeof(T);
  std::size_t end = 0;
  auto pad_to = [&](std::size_t offset) {
    if (offset > end) d.fields.push_back(Field{"", Dtype::scalar_of("|V" + std::to_string(offset - end)), {}});
  };
  boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_any_access>>([&](auto member) {
    using M = std::remove_cvref_t<decltype(std::declval<T&>().*member.pointer)>;
    const std::size_t offset = member_offset(member.pointer);
    if (offset < end)
      throw InvalidArgument(std::string("lagoon: the fields of ") + std::string(type_name<T>()) +
                            " must be described in the order they are declared");
    pad_to(offset);
    Field f{member.name, {}, {}};
    field_type<M>(f.type, f.shape);
    d.fields.push_back(std::move(f));
    end = offset + sizeof(M);
  });
  pad_to(sizeof(T));
  return d;
}

/// The NumPy dtype of T: plain numbers, bool, complex, datetime64/timedelta64,
/// fixed_string<N>, enums (as their underlying type), and structs described with
/// BOOST_DESCRIBE_STRUCT whose fields are any of these (or arrays of them).
template <class T>
Dtype dtype_of() {
  static_assert(std::endian::native == std::endian::little, "lagoon's .npy support assumes a little-endian host");
  using U = std::remove_cv_t<T>;
  auto number = [](char kind, std::size_t bytes) {
    return Dtype::scalar_of(std::string(1, bytes == 1 ? '|' : '<') + kind + std::to_string(bytes));
  };
  if constexpr (std::is_same_v<U, bool>) {
    return Dtype::scalar_of("|b1");
  } else if constexpr (std::is_same_v<U, char>) {
    return Dtype::scalar_of("|S1");
  } else if constexpr (std::is_integral_v<U>) {
    return number(std::is_signed_v<U> ? 'i' : 'u', sizeof(U));
  } else if constexpr (std::is_same_v<U, float> || std::is_same_v<U, double>) {
    return number('f', sizeof(U));
  } else if constexpr (std::is_same_v<U, std::complex<float>> || std::is_same_v<U, std::complex<double>>) {
    return number('c', sizeof(U));
  } else if constexpr (std::is_enum_v<U>) {
    return dtype_of<std::underlying_type_t<U>>();
  } else if constexpr (is_fixed_string<U>::value != 0) {
    return Dtype::scalar_of("|S" + std::to_string(is_fixed_string<U>::value));
  } else if constexpr (is_sys_time<U>::value || is_duration<U>::value) {
    using D = std::conditional_t<is_sys_time<U>::value, typename U::duration, U>;
    static_assert(std::is_same_v<typename D::rep, std::int64_t> && time_unit<typename D::period>() != nullptr,
                  "lagoon: a time field needs an int64 count of ns, us, ms, s, m, h or D (NumPy's units)");
    return Dtype::scalar_of(std::string(is_sys_time<U>::value ? "<M8[" : "<m8[") + time_unit<typename D::period>() +
                            "]");
  } else if constexpr (boost::describe::has_describe_members<U>::value) {
    return struct_dtype<U>();
  } else {
    static_assert(always_false<U>,
                  "lagoon: this type has no NumPy dtype. For a struct, describe its fields once with "
                  "BOOST_DESCRIBE_STRUCT(Type, (), (field1, field2, ...))");
  }
}

}  // namespace detail

/// T's NumPy dtype as NumPy writes it in a .npy header (`dtype.descr`), e.g.
/// "[('when', '<M8[ns]'), ('price', '<f8'), ('qty', '<i8'), ('code', '|S6'), ('', '|V2')]".
/// In NumPy, `np.dtype(eval(descr))` (or `np.lib.format.descr_to_dtype`) gives the same dtype.
template <class T>
[[nodiscard]] std::string numpy_descr() {
  return detail::dtype_of<T>().descr();
}

}  // namespace lagoon
