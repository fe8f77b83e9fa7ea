// GlobalArray<T>: one N-d array partitioned over the nodes in blocks of rows; any
// rank reads and writes any rows, and a busy owner never delays a reader.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <ranges>
#include <span>
#include <string>
#include <vector>

#include "lagoon/detail/global_core.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/error.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/shareable.hpp"

namespace lagoon {

template <class T>
class GlobalArray;

namespace detail {
/// The core under a GlobalArray (for I/O); throws InvalidArgument once moved from.
template <class T>
[[nodiscard]] const GlobalCore& global_core_of(const GlobalArray<T>& array);
}  // namespace detail

/// An N-d, row-major array of T whose rows are split in balanced blocks over the
/// nodes (like lagoon::share splits items over ranks). Each node holds its block once,
/// in a shared window that its ranks read and write in place (`local()`); `get`, `put`
/// and `accumulate` reach any rows, wherever they live.
///
/// - Rows on this rank's node are plain copies in shared memory: no MPI call.
/// - Rows on another node travel as MPI messages between this rank and the other
///   node's service thread, straight between the window and your buffer (no
///   staging copy), so they complete while the owner's ranks compute.
/// - `get` returns when the rows are in `out`. `put` and `accumulate` return when `in`
///   may be reused; they are complete and visible everywhere after `fence()`.
/// - `accumulate` adds element-wise, each element atomically: concurrent
///   accumulates from any ranks on any nodes lose no update.
/// - Moved from, an array is empty (shape {}, size 0, no local rows) and every other
///   call throws InvalidArgument.
///
/// **Example**:
///   lagoon::GlobalArray<double> g(rt, {1'000'000, 4});    // collective; 32 MB over all nodes
///   for (double& x : g.local()) x = 1.0;                   // this node's rows, in place
///   g.fence();
///   std::vector<double> row(4);
///   g.get(999'999, 1'000'000, row);                        // the last row, wherever it lives
template <class T>
class GlobalArray {
  static_assert(Shareable<T>,
                "lagoon::GlobalArray<T> needs a Shareable T (trivially copyable, holding no pointer): its bytes "
                "travel between processes and nodes, where a pointer means nothing. For a type that owns memory, "
                "use the serialized path: lagoon::ObjectStore (put/get by reference) or lagoon::SharedMap.");

 public:
  using value_type = T;

  /// Zero-filled. @note collective over the world; throws (on every rank) ShapeError for
  /// an empty shape, an element count that overflows, or shapes that differ between
  /// ranks, and OutOfMemory when a node lacks the memory for its block.
  GlobalArray(const Runtime& rt, std::initializer_list<std::size_t> shape)
      : GlobalArray(rt, std::span<const std::size_t>(shape.begin(), shape.size())) {}
  GlobalArray(const Runtime& rt, const std::vector<std::size_t>& shape)
      : GlobalArray(rt, std::span<const std::size_t>(shape)) {}
  GlobalArray(const Runtime& rt, std::span<const std::size_t> shape)
      : core_(std::make_unique<detail::GlobalCore>(rt, shape, sizeof(T), alignof(T) > 64 ? alignof(T) : 64,
                                                   detail::element_kind<T>(), describe(shape))) {}
  GlobalArray(GlobalArray&&) noexcept = default;
  /// Frees this array's own block first. @note collective over the world
  GlobalArray& operator=(GlobalArray&&) noexcept = default;
  /// Waits until no rank has a request for the array in flight, then frees the node's
  /// block (nothing, once moved from). @note collective over the world
  ~GlobalArray() = default;

  [[nodiscard]] const std::vector<std::size_t>& shape() const noexcept {
    static const std::vector<std::size_t> none;
    return core_ ? core_->shape() : none;
  }
  [[nodiscard]] std::size_t ndim() const noexcept { return shape().size(); }
  [[nodiscard]] std::size_t size() const noexcept { return core_ ? core_->rows() * core_->row_elements() : 0; }
  [[nodiscard]] std::size_t bytes() const noexcept { return size() * sizeof(T); }
  /// Elements per row (the product of the dimensions after the first).
  [[nodiscard]] std::size_t row_size() const noexcept { return core_ ? core_->row_elements() : 0; }

  /// The rows this rank's node holds.
  [[nodiscard]] std::ranges::iota_view<std::size_t, std::size_t> local_rows() const noexcept {
    return core_ ? std::views::iota(core_->local_begin(), core_->local_end()) : std::views::iota(std::size_t{0}, std::size_t{0});
  }
  /// The rows node `node` holds.
  [[nodiscard]] std::ranges::iota_view<std::size_t, std::size_t> rows_of(int node) const {
    return std::views::iota(core().first_row(node), core().first_row(node + 1));
  }
  /// This node's rows, in place in shared memory: every rank of the node sees the same
  /// elements. Throws RuntimeFinalized after the Runtime is gone.
  [[nodiscard]] std::span<T> local() {
    return {reinterpret_cast<T*>(core().local_data()), (core_->local_end() - core_->local_begin()) * row_size()};
  }
  [[nodiscard]] std::span<const T> local() const {
    return {reinterpret_cast<const T*>(core().local_data()), (core_->local_end() - core_->local_begin()) * row_size()};
  }
  /// The node that holds `row`; throws ShapeError for a row out of range.
  [[nodiscard]] int owner_node(std::size_t row) const { return core().owner_node(row); }

  /// Copies rows [row_begin, row_end) into `out`, which must hold exactly that many
  /// elements (ShapeError otherwise, and for rows out of range: nothing is read).
  void get(std::size_t row_begin, std::size_t row_end, std::span<T> out) const {
    core().get(row_begin, row_end, reinterpret_cast<std::byte*>(out.data()), out.size());
  }
  /// Writes `in` over rows [row_begin, row_end); checked like get, nothing is written
  /// unless every check passes.
  void put(std::size_t row_begin, std::size_t row_end, std::span<const T> in) {
    core().put(row_begin, row_end, reinterpret_cast<const std::byte*>(in.data()), in.size());
  }
  /// Adds `in` to rows [row_begin, row_end), element by element, each atomically.
  /// T must be an arithmetic type (integers, float, double).
  void accumulate(std::size_t row_begin, std::size_t row_end, std::span<const T> in)
    requires(detail::element_kind<T>() != detail::ElementKind::none)
  {
    core().accumulate(row_begin, row_end, reinterpret_cast<const std::byte*>(in.data()), in.size());
  }

  /// Patches, as Global Arrays' NGA_Get/NGA_Put/NGA_Acc: `lo` and `hi` give the half-open
  /// bounds [lo, hi) in every dimension (braced lists will do), and the buffer holds the
  /// patch in row-major order. Each node that holds part of the patch is asked once,
  /// whatever the patch's shape. ShapeError, with nothing read or written, for bounds
  /// with another number of dimensions than the array, a range out of its dimension, or
  /// a buffer of another length than the patch.
  ///
  /// **Example**: `std::vector<double> tile(64 * 64); g.get({r, c}, {r + 64, c + 64}, tile);`
  void get(std::span<const std::size_t> lo, std::span<const std::size_t> hi, std::span<T> out) const {
    core().get(lo, hi, reinterpret_cast<std::byte*>(out.data()), out.size());
  }
  void get(std::initializer_list<std::size_t> lo, std::initializer_list<std::size_t> hi, std::span<T> out) const {
    get(std::span(lo.begin(), lo.size()), std::span(hi.begin(), hi.size()), out);
  }
  /// Writes `in` over the patch [lo, hi); visible everywhere after fence().
  void put(std::span<const std::size_t> lo, std::span<const std::size_t> hi, std::span<const T> in) {
    core().put(lo, hi, reinterpret_cast<const std::byte*>(in.data()), in.size());
  }
  void put(std::initializer_list<std::size_t> lo, std::initializer_list<std::size_t> hi, std::span<const T> in) {
    put(std::span(lo.begin(), lo.size()), std::span(hi.begin(), hi.size()), in);
  }
  /// Adds `in` to the patch [lo, hi), element by element, each atomically.
  void accumulate(std::span<const std::size_t> lo, std::span<const std::size_t> hi, std::span<const T> in)
    requires(detail::element_kind<T>() != detail::ElementKind::none)
  {
    core().accumulate(lo, hi, reinterpret_cast<const std::byte*>(in.data()), in.size());
  }
  void accumulate(std::initializer_list<std::size_t> lo, std::initializer_list<std::size_t> hi,
                  std::span<const T> in)
    requires(detail::element_kind<T>() != detail::ElementKind::none)
  {
    accumulate(std::span(lo.begin(), lo.size()), std::span(hi.begin(), hi.size()), in);
  }

  /// Adds `value` to element `index` (row-major over the whole array: the row, for a
  /// 1-d array), atomically; ShapeError for an index out of range.
  ///
  /// **Example**: `hist.accumulate(bin, 1);   // a histogram over the nodes`
  void accumulate(std::size_t index, const T& value)
    requires(detail::element_kind<T>() != detail::ElementKind::none)
  {
    const auto& shape = core().shape();
    std::size_t elements = 1;
    for (const std::size_t extent : shape) elements *= extent;
    if (index >= elements)
      throw ShapeError(core().what() + ".accumulate(" + std::to_string(index) + ", value): element " +
                       std::to_string(index) + " is out of the array's " + std::to_string(elements) + " elements");
    std::vector<std::size_t> lo(shape.size()), hi(shape.size());
    std::size_t rest = index;
    for (std::size_t d = shape.size(); d-- > 0;) {  // the row-major index in every dimension
      lo[d] = d == 0 ? rest : rest % shape[d];
      rest = d == 0 ? 0 : rest / shape[d];
      hi[d] = lo[d] + 1;
    }
    core().accumulate(lo, hi, reinterpret_cast<const std::byte*>(&value), 1);
  }

  /// Completes this rank's puts and accumulates: on return each is applied at its owner
  /// node, so a rank that synchronizes with this one afterwards (a barrier, a message)
  /// reads them. Not collective; throws the first failure of this rank's one-way
  /// requests, on this rank only (fence() agrees errors over the world).
  void flush() const { core().flush(); }

  /// Completes every put and accumulate of every rank and makes all writes (remote,
  /// and local ones in `local()`) visible to every rank. @note collective over the world
  void fence() const { core().fence(); }

 private:
  template <class U>
  friend const detail::GlobalCore& detail::global_core_of(const GlobalArray<U>& array);

  [[nodiscard]] detail::GlobalCore& core() const {
    if (!core_) throw InvalidArgument("lagoon::GlobalArray<" + std::string(detail::type_name<T>()) +
                                      ">: used after it was moved from (it holds nothing now)");
    return *core_;
  }

  static std::string describe(std::span<const std::size_t> shape) {
    std::string text = "lagoon::GlobalArray<" + std::string(detail::type_name<T>()) + "> of shape {";
    for (std::size_t d = 0; d < shape.size(); ++d) text += (d ? ", " : "") + std::to_string(shape[d]);
    return text + "}";
  }

  std::unique_ptr<detail::GlobalCore> core_;
};

template <class T>
const detail::GlobalCore& detail::global_core_of(const GlobalArray<T>& array) {
  return array.core();
}

}  // namespace lagoon
