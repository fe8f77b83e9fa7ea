// Parallel algorithms, owner computes: each rank works on its share of the
// copy its node holds, so every element is visited by exactly one rank.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <exception>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lagoon/column.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/share.hpp"
#include "lagoon/error.hpp"
#include "lagoon/global_array.hpp"
#include "lagoon/mpi.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/shareable.hpp"
#include "lagoon/shared_array.hpp"

namespace lagoon {

namespace detail {

/// InvalidArgument (on every rank: they all pass the same root) for a root that is not
/// a world rank.
inline void check_root(const Runtime& rt, int root, const char* call) {
  if (root < 0 || root >= rt.size())
    throw InvalidArgument(std::string(call) + ": root " + std::to_string(root) + " is not a world rank (0.." +
                          std::to_string(rt.size() - 1) + ")");
}

}  // namespace detail

/// This rank's indices of `n` items split over the world (sizes differ by at most one).
///
/// **Example**: `for (auto i : lagoon::share(rt, a.size())) a[i] = f(i);`
[[nodiscard]] inline std::ranges::iota_view<std::size_t, std::size_t> share(const Runtime& rt, std::size_t n) {
  const auto [begin, end] =
      detail::share_bounds(n, static_cast<std::size_t>(rt.size()), static_cast<std::size_t>(rt.rank()));
  return std::views::iota(begin, end);
}

/// This rank's indices of `n` items split over the ranks of its node: how a node's
/// ranks fill their node's copy together.
[[nodiscard]] inline std::ranges::iota_view<std::size_t, std::size_t> node_share(const Runtime& rt, std::size_t n) {
  const auto [begin, end] =
      detail::share_bounds(n, static_cast<std::size_t>(rt.node_size()), static_cast<std::size_t>(rt.node_rank()));
  return std::views::iota(begin, end);
}

/// Root's `value` on every rank of the world: refs, tasks, small settings travel
/// without raw MPI. @note collective over the world
///
/// **Example**: `ref = lagoon::broadcast(rt, ref, 0);   // the ref rank 0 put, everywhere`
template <class T>
  requires Shareable<T>
[[nodiscard]] T broadcast(const Runtime& rt, T value, int root) {
  detail::check_root(rt, root, "lagoon::broadcast");
  mpi::bcast_bytes(&value, sizeof value, root, rt.world());
  return value;
}

/// Every rank's `value`, in world rank order, on `root`; an empty vector on the other
/// ranks. @note collective over the world
///
/// **Example**: `auto counts = lagoon::gather(rt, my_count, 0);   // counts[r] on rank 0`
template <class T>
  requires Shareable<T>
[[nodiscard]] std::vector<T> gather(const Runtime& rt, const T& value, int root) {
  detail::check_root(rt, root, "lagoon::gather");
  std::vector<T> all(rt.rank() == root ? static_cast<std::size_t>(rt.size()) : 0);
  mpi::gather_bytes(&value, sizeof value, all.data(), root, rt.world());
  return all;
}

namespace detail {

/// Folds first[0..n) with `op`, in kLanes independent accumulators so the loop runs
/// at memory bandwidth rather than at the latency of one dependent chain. Like
/// std::reduce, this requires `op` to be associative and commutative.
template <class T, class It, class Op>
std::optional<T> fold_lanes(It first, std::size_t n, Op& op) {
  constexpr std::size_t kLanes = 8;
  if (n == 0) return std::nullopt;
  if (n < 2 * kLanes) {
    T acc = static_cast<T>(first[0]);
    for (std::size_t i = 1; i < n; ++i) acc = op(acc, first[i]);
    return acc;
  }
  auto acc = [&]<std::size_t... K>(std::index_sequence<K...>) {
    return std::array<T, kLanes>{static_cast<T>(first[K])...};
  }(std::make_index_sequence<kLanes>{});
  std::size_t i = kLanes;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t k = 0; k < kLanes; ++k) acc[k] = op(acc[k], first[i + k]);
  for (; i < n; ++i) acc[0] = op(acc[0], first[i]);
  for (std::size_t width = kLanes / 2; width > 0; width /= 2)
    for (std::size_t k = 0; k < width; ++k) acc[k] = op(acc[k], acc[k + width]);
  return acc[0];
}

/// Combines every rank's partial (in rank order, so every rank gets the same bits)
/// after `init`. A rank whose partial threw makes every rank throw its error.
template <class T, class Op>
T combine_partials(const Runtime& rt, T init, const std::optional<T>& mine, std::exception_ptr error, Op& op) {
  static_assert(Shareable<T>, "lagoon::reduce: the result type T must be Shareable (it is sent as raw bytes)");
  struct Slot {
    std::array<std::byte, sizeof(T)> value{};
    unsigned char state = 0;  // 0: nothing, 1: value, 2: error
  };
  Slot slot;
  if (error) {
    slot.state = 2;
  } else if (mine) {
    slot.value = std::bit_cast<std::array<std::byte, sizeof(T)>>(*mine);
    slot.state = 1;
  }
  std::vector<Slot> all(static_cast<std::size_t>(rt.size()));
  mpi::allgather_bytes(&slot, sizeof(Slot), all.data(), rt.world());
  for (const Slot& s : all)
    if (s.state == 2) agree_on(rt.world(), error);  // every rank takes part; all throw
  for (const Slot& s : all)
    if (s.state == 1) init = op(init, std::bit_cast<T>(s.value));
  return init;
}

/// Folds this rank's part [first, first + n), then combines every rank's partial.
template <class T, class It, class Op>
T reduce_checked(const Runtime& rt, It first, std::size_t n, T init, Op& op) {
  std::optional<T> mine;
  std::exception_ptr error;
  try {
    mine = fold_lanes<T>(first, n, op);
  } catch (...) {
    error = std::current_exception();
  }
  return combine_partials(rt, std::move(init), mine, error, op);
}

/// What reduce asks of its element, result and op types.
template <class T, class E, class Op>
concept ReducibleWith = std::constructible_from<T, const E&> && std::is_invocable_r_v<T, Op&, T, const E&> &&
                        std::is_invocable_r_v<T, Op&, T, T>;

/// first[i] seen through `transform`: the elements transform_reduce folds.
template <class It, class Transform>
struct Transformed {
  It first;
  Transform* transform;
  decltype(auto) operator[](std::size_t i) const { return (*transform)(first[i]); }
};

/// reduce_checked, once the types are known to fit (a readable error otherwise).
template <class T, class It, class Op>
T reduce_part(const Runtime& rt, It first, std::size_t n, T init, Op& op) {
  using E = std::remove_cvref_t<decltype(first[0])>;
  if constexpr (!ReducibleWith<T, E, Op>) {
    static_assert(ReducibleWith<T, E, Op>,
                  "lagoon::reduce(rt, array, init, op): each element must convert to the result type T, and "
                  "op(T, element) and op(T, T) must give a T (lanes and ranks combine their partials with op). "
                  "For an accumulator of another kind (per-centroid sums of points, say) use "
                  "lagoon::transform_reduce(rt, array, init, op, transform) with transform(element) -> T, or a "
                  "loop over lagoon::share(rt, n) and lagoon::allreduce(rt, partial, op)");
    return init;
  } else {
    return reduce_checked(rt, first, n, std::move(init), op);
  }
}

/// The sum of first[0..n) without its NaNs (kLanes independent accumulators).
template <class E, class It>
std::optional<E> nansum_lanes(It first, std::size_t n) {
  constexpr std::size_t kLanes = 8;
  std::array<E, kLanes> acc{};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t k = 0; k < kLanes; ++k) {
      const E x = first[i + k];
      acc[k] += x == x ? x : E{0};  // NaN is the one value unequal to itself
    }
  for (; i < n; ++i) {
    const E x = first[i];
    acc[0] += x == x ? x : E{0};
  }
  for (std::size_t width = kLanes / 2; width > 0; width /= 2)
    for (std::size_t k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

template <class E, class It>
E nansum_part(const Runtime& rt, It first, std::size_t n) {
  auto plus = [](E a, E b) { return a + b; };
  return combine_partials(rt, E{0}, nansum_lanes<E>(first, n), nullptr, plus);
}

/// This rank's [begin, end) of n items split over the world.
inline std::pair<std::size_t, std::size_t> world_share(const Runtime& rt, std::size_t n) {
  return share_bounds(n, static_cast<std::size_t>(rt.size()), static_cast<std::size_t>(rt.rank()));
}

}  // namespace detail

/// Reduces every element of `array` with `op`, starting from `init`; the result is on
/// every rank. Each rank folds its share of its node's copy. `op` must be associative
/// and commutative (as for std::reduce). @note collective over the world
///
/// **Example**: `double total = lagoon::reduce(rt, a, 0.0, std::plus<>{});`
template <class T, class E, class Op>
[[nodiscard]] T reduce(const Runtime& rt, const SharedArray<E>& array, T init, Op op) {
  const auto [begin, end] =
      detail::share_bounds(array.size(), static_cast<std::size_t>(rt.size()), static_cast<std::size_t>(rt.rank()));
  return detail::reduce_part(rt, array.data() + begin, end - begin, std::move(init), op);
}

/// Reduces every element of a GlobalArray: each rank folds its share of the rows its
/// node holds, so each element is read once, on its owner node. @note collective over the world
template <class T, class E, class Op>
[[nodiscard]] T reduce(const Runtime& rt, const GlobalArray<E>& array, T init, Op op) {
  const auto local = array.local();
  const auto [begin, end] = detail::share_bounds(local.size(), static_cast<std::size_t>(rt.node_size()),
                                                 static_cast<std::size_t>(rt.node_rank()));
  return detail::reduce_part(rt, local.data() + begin, end - begin, std::move(init), op);
}

/// Reduces one column of a record array (SharedArray<T>::column): each rank folds its
/// share of the rows of its node's copy. @note collective over the world
///
/// **Example**: `auto qty = lagoon::reduce(rt, t.column(&Trade::qty), std::int64_t{0}, std::plus<>{});`
template <class T, class F, class Op>
[[nodiscard]] T reduce(const Runtime& rt, const Column<F>& column, T init, Op op) {
  const auto [begin, end] = detail::world_share(rt, column.size());
  return detail::reduce_part(rt, column.begin() + static_cast<std::ptrdiff_t>(begin), end - begin, std::move(init), op);
}

/// Maps every element with `transform` (element -> T) and reduces the results with `op`
/// (T, T -> T, associative and commutative), starting from `init`; the result is on
/// every rank. Each rank works on its share of its node's copy (of the node's rows, for
/// a GlobalArray). For an accumulator that is not an element: the sum of squares, the
/// count of matches, per-centroid sums. @note collective over the world
///
/// **Example**: `double ss = lagoon::transform_reduce(rt, a, 0.0, std::plus<>{}, [](double x) { return x * x; });`
template <class T, class E, class Op, class Transform>
[[nodiscard]] T transform_reduce(const Runtime& rt, const SharedArray<E>& array, T init, Op op, Transform transform) {
  const auto [begin, end] = detail::world_share(rt, array.size());
  const detail::Transformed<const E*, Transform> mapped{array.data() + begin, &transform};
  return detail::reduce_part(rt, mapped, end - begin, std::move(init), op);
}

template <class T, class E, class Op, class Transform>
[[nodiscard]] T transform_reduce(const Runtime& rt, const GlobalArray<E>& array, T init, Op op, Transform transform) {
  const auto local = array.local();
  const auto [begin, end] = detail::share_bounds(local.size(), static_cast<std::size_t>(rt.node_size()),
                                                 static_cast<std::size_t>(rt.node_rank()));
  const detail::Transformed<const E*, Transform> mapped{local.data() + begin, &transform};
  return detail::reduce_part(rt, mapped, end - begin, std::move(init), op);
}

template <class T, class F, class Op, class Transform>
[[nodiscard]] T transform_reduce(const Runtime& rt, const Column<F>& column, T init, Op op, Transform transform) {
  const auto [begin, end] = detail::world_share(rt, column.size());
  const detail::Transformed<decltype(column.begin()), Transform> mapped{
      column.begin() + static_cast<std::ptrdiff_t>(begin), &transform};
  return detail::reduce_part(rt, mapped, end - begin, std::move(init), op);
}

/// The rows of an N-d SharedArray as items of their own: `rows[i]` is a span over row i
/// (the trailing dimensions, row-major). for_each and transform_reduce take it, so an
/// array of shape {N, 8} is visited or reduced row by row with no record type.
/// Made by lagoon::rows(array); it refers to the array, which must outlive it.
template <class E>
class Rows {
 public:
  using Array = SharedArray<std::remove_const_t<E>>;
  Rows(E* data, std::size_t count, std::size_t row_size, const Array& array) noexcept
      : data_(data), count_(count), row_size_(row_size), array_(&array) {}

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] std::size_t row_size() const noexcept { return row_size_; }
  [[nodiscard]] std::span<E> operator[](std::size_t i) const noexcept { return {data_ + i * row_size_, row_size_}; }
  [[nodiscard]] const Array& array() const noexcept { return *array_; }

 private:
  E* data_;
  std::size_t count_;
  std::size_t row_size_;
  const Array* array_;
};

/// The rows of `array` (shape {N, ...}: N rows of the trailing dimensions' size).
///
/// **Example**: `lagoon::for_each(rt, lagoon::rows(a), [](std::span<float> row) { normalize(row); });`
template <class E>
[[nodiscard]] Rows<E> rows(SharedArray<E>& array) noexcept {
  const std::size_t n = array.shape().empty() ? 0 : array.shape()[0];
  return {array.data(), n, n == 0 ? 0 : array.size() / n, array};
}
template <class E>
[[nodiscard]] Rows<const E> rows(const SharedArray<E>& array) noexcept {
  const std::size_t n = array.shape().empty() ? 0 : array.shape()[0];
  return {array.data(), n, n == 0 ? 0 : array.size() / n, array};
}

/// transform(row) -> T for each row (a std::span of the row's elements), folded with
/// `op`: each rank takes its share of the rows. @note collective over the world
///
/// **Example**: `auto norms = lagoon::transform_reduce(rt, lagoon::rows(a), 0.0, std::plus<>{}, row_norm);`
template <class T, class E, class Op, class Transform>
[[nodiscard]] T transform_reduce(const Runtime& rt, const Rows<E>& rows, T init, Op op, Transform transform) {
  const auto [begin, end] = detail::world_share(rt, rows.size());
  struct RowAt {  // this rank's i-th row
    const Rows<E>* rows;
    std::size_t first;
    std::span<E> operator[](std::size_t i) const { return (*rows)[first + i]; }
  };
  const detail::Transformed<RowAt, Transform> mapped{RowAt{&rows, begin}, &transform};
  return detail::reduce_part(rt, mapped, end - begin, std::move(init), op);
}

/// Combines every rank's `value` with `op` (T, T -> T), in world rank order, so every
/// rank gets the same bits: a partial result of one's own loop (k-means sums over
/// lagoon::share) without raw MPI_Allreduce. Every rank's value travels to every rank
/// (an allgather): meant for values of a few KiB. @note collective over the world
///
/// **Example**: `auto sums = lagoon::allreduce(rt, mine, [](Sums a, const Sums& b) { a += b; return a; });`
template <class T, class Op>
  requires Shareable<T> && std::is_invocable_r_v<T, Op&, T, const T&>
[[nodiscard]] T allreduce(const Runtime& rt, const T& value, Op op) {
  std::vector<T> all(static_cast<std::size_t>(rt.size()));
  mpi::allgather_bytes(&value, sizeof value, all.data(), rt.world());
  T result = all[0];
  for (std::size_t r = 1; r < all.size(); ++r) result = op(std::move(result), all[r]);
  return result;
}

/// The sum of every element except the NaNs (NumPy's nansum), on every rank: each rank
/// sums its share of its node's copy. An array of NaNs only sums to 0.
/// @note collective over the world
///
/// **Example**: `double total = lagoon::nansum(rt, t.column(&Trade::price));`
template <std::floating_point E>
[[nodiscard]] E nansum(const Runtime& rt, const SharedArray<E>& array) {
  const auto [begin, end] = detail::world_share(rt, array.size());
  return detail::nansum_part<E>(rt, array.data() + begin, end - begin);
}
template <class F>
  requires std::floating_point<std::remove_const_t<F>>
[[nodiscard]] std::remove_const_t<F> nansum(const Runtime& rt, const Column<F>& column) {
  const auto [begin, end] = detail::world_share(rt, column.size());
  return detail::nansum_part<std::remove_const_t<F>>(rt, column.begin() + static_cast<std::ptrdiff_t>(begin),
                                                     end - begin);
}
/// NaN-skipping sum of a GlobalArray: each element once, on its owner node.
template <std::floating_point E>
[[nodiscard]] E nansum(const Runtime& rt, const GlobalArray<E>& array) {
  const auto local = array.local();
  const auto [begin, end] = detail::share_bounds(local.size(), static_cast<std::size_t>(rt.node_size()),
                                                 static_cast<std::size_t>(rt.node_rank()));
  return detail::nansum_part<E>(rt, local.data() + begin, end - begin);
}

/// Calls `f(element)` on this rank's share of the elements, then makes every node's
/// copy whole again (each node receives the shares the other nodes changed).
/// If `f` throws on any rank, every rank throws that error and the elements already
/// visited keep their new values (as with std::for_each); the copies of other nodes
/// are then not updated. @note collective over the world
///
/// **Example**: `lagoon::for_each(rt, a, [](double& x) { x = std::sqrt(x); });`
template <class E, class F>
void for_each(const Runtime& rt, SharedArray<E>& array, F f) {
  detail::agree(rt.world(), [&] {
    E* data = array.data();
    for (auto i : share(rt, array.size())) f(data[i]);
  });
  detail::replica_of(array).exchange_shares(array.size(), sizeof(E));
}

/// Calls `f(row)` (a std::span over the row's elements) on this rank's share of the
/// rows, then every node receives the rows the other nodes changed, as for_each on the
/// elements does. @note collective over the world
template <class E, class F>
  requires(!std::is_const_v<E>)
void for_each(const Runtime& rt, const Rows<E>& rows, F f) {
  detail::agree(rt.world(), [&] {
    for (auto i : share(rt, rows.size())) f(rows[i]);
  });
  detail::replica_of(rows.array()).exchange_shares(rows.size(), rows.row_size() * sizeof(E));
}

/// Calls `f(field)` on this rank's share of one column of a record array, then makes
/// every node's copy whole again, as for_each on the array does.
/// @note collective over the world
///
/// **Example**: `lagoon::for_each(rt, t.column(&Trade::price), [](double& p) { p *= 1.1; });`
template <class F, class Fn>
  requires(!std::is_const_v<F>)
void for_each(const Runtime& rt, Column<F> column, Fn f) {
  detail::agree(rt.world(), [&] {
    for (auto i : share(rt, column.size())) f(column[i]);
  });
  if (column.replica()) column.replica()->exchange_shares(column.size(), column.stride());
}

/// Calls `f(element)` on every element of a GlobalArray, once, on its owner node: each
/// rank visits its share of the rows its node holds. The new values are visible to
/// every rank (local() and get) when it returns. @note collective over the world
template <class E, class F>
void for_each(const Runtime& rt, GlobalArray<E>& array, F f) {
  detail::agree(rt.world(), [&] {
    const auto local = array.local();
    for (auto i : node_share(rt, local.size())) f(local[i]);
  });
  array.fence();
}

}  // namespace lagoon
