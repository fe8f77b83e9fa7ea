// Shareable: the one dispatch point between zero-copy (raw bytes in shared
// memory, raw MPI messages) and the serialized path (Boost.Serialization).
#pragma once

#include <array>
#include <boost/describe.hpp>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>

namespace lagoon {
namespace detail {

template <class T>
struct holds_pointer;

/// Pointers are meaningless in another process; a described struct is checked
/// member by member, arrays element by element.
template <class T>
constexpr bool holds_pointer_v = holds_pointer<std::remove_cv_t<T>>::value;

template <class T>
constexpr bool described_members_hold_pointer() {
  if constexpr (boost::describe::has_describe_members<T>::value) {
    using members = boost::describe::describe_members<T, boost::describe::mod_any_access>;
    return []<template <class...> class L, class... M>(L<M...>) {
             return (holds_pointer_v<std::remove_reference_t<decltype(std::declval<T&>().*M::pointer)>> || ...);
           }(members{});
  } else {
    return false;
  }
}

template <class T>
struct holds_pointer
    : std::bool_constant<std::is_pointer_v<T> || std::is_member_pointer_v<T> || std::is_null_pointer_v<T> ||
                         described_members_hold_pointer<T>()> {};
template <class T, std::size_t N>
struct holds_pointer<T[N]> : holds_pointer<std::remove_cv_t<T>> {};
template <class T, std::size_t N>
struct holds_pointer<std::array<T, N>> : holds_pointer<std::remove_cv_t<T>> {};
// Views are trivially copyable classes around a pointer: their bytes name memory
// of the process that made them.
template <class C, class Traits>
struct holds_pointer<std::basic_string_view<C, Traits>> : std::true_type {};
template <class T, std::size_t N>
struct holds_pointer<std::span<T, N>> : std::true_type {};

}  // namespace detail

/// A type whose bytes mean the same in every process: trivially copyable and
/// holding no pointer (checked through arrays and Boost.Describe'd members).
/// Shareable values live in shared memory and travel as raw bytes; anything else
/// goes through the serialized path (ObjectStore, SharedMap).
template <class T>
concept Shareable = std::is_object_v<T> && std::is_trivially_copyable_v<T> && !detail::holds_pointer_v<T>;

}  // namespace lagoon
