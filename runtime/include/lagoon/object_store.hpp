// ObjectStore: Ray-like put/get of any C++ object by reference. Shareable data is
// stored once per node, as raw bytes in the node's arena, and read in place;
// anything else is stored as a Boost.Serialization archive and read back as a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lagoon/detail/archive.hpp"
#include "lagoon/serialization.hpp"  // the standard containers, so that they need no include of the user's
#include "lagoon/detail/store_core.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/error.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/shareable.hpp"
#include "lagoon/shared_array.hpp"

namespace lagoon {

class ObjectStore;

namespace detail {

struct RefAccess;
struct StoreAccess;

/// Contiguous ranges of Shareable elements, stored as raw bytes.
template <class T>
struct raw_range : std::false_type {};
template <class E, class A>
  requires Shareable<E> && (!std::is_same_v<E, bool>)
struct raw_range<std::vector<E, A>> : std::true_type {
  using element = E;
};

}  // namespace detail

/// A reference to an object in an ObjectStore: which store, which node owns it,
/// its number there, its size and its type's tag. Shareable: send it, broadcast
/// it, keep it in a SharedArray. A default-constructed ref is empty.
template <class T>
class ObjectRef {
 public:
  ObjectRef() = default;

  [[nodiscard]] bool empty() const noexcept { return data_.store == 0; }
  explicit operator bool() const noexcept { return !empty(); }
  /// The node whose arena holds the object (and whose rank put it).
  [[nodiscard]] int owner_node() const noexcept { return data_.node; }
  /// The object's number on its node.
  [[nodiscard]] std::uint64_t id() const noexcept { return data_.serial; }
  /// Bytes it takes in an arena (raw bytes, or its archive).
  [[nodiscard]] std::size_t bytes() const noexcept { return static_cast<std::size_t>(data_.bytes); }
  friend bool operator==(const ObjectRef&, const ObjectRef&) = default;

 private:
  friend class ObjectStore;
  friend struct detail::RefAccess;
  explicit ObjectRef(const detail::RefData& data) : data_(data) {}
  detail::RefData data_;
};

namespace detail {
/// What lagoon's own layers (tasks) read and make of a ref.
struct RefAccess {
  template <class T>
  [[nodiscard]] static ObjectRef<T> make(const RefData& data) noexcept {
    return ObjectRef<T>(data);
  }
  template <class T>
  [[nodiscard]] static const RefData& data(const ObjectRef<T>& ref) noexcept {
    return ref.data_;
  }
};
}  // namespace detail

/// A read-only view of Shareable data in the node's arena: a range of `E` (one
/// element for a single value). No copy: `data()` points into node shared memory.
/// The object's bytes stay while a view of it lives, even after `free`; a view must
/// not outlive its store.
template <class E>
class ObjectView {
 public:
  using value_type = E;
  using const_iterator = const E*;

  ObjectView() = default;

  [[nodiscard]] const E* data() const noexcept { return reinterpret_cast<const E*>(pin_.data()); }
  [[nodiscard]] std::size_t size() const noexcept { return pin_.bytes() / sizeof(E); }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] const E* begin() const noexcept { return data(); }
  [[nodiscard]] const E* end() const noexcept { return data() + size(); }
  [[nodiscard]] const E& operator[](std::size_t i) const noexcept { return data()[i]; }
  /// The first (for a single value: the) element.
  [[nodiscard]] const E& operator*() const noexcept { return *data(); }
  [[nodiscard]] const E* operator->() const noexcept { return data(); }
  [[nodiscard]] std::span<const E> span() const noexcept { return {data(), size()}; }
  /// Whether this get brought the bytes over from the owner's node (the first get
  /// on a node); a later get on the node reads the copy this one left.
  [[nodiscard]] bool fetched() const noexcept { return pin_.fetched(); }
  /// Whether the object belongs to this node (no transfer ever happened).
  [[nodiscard]] bool owned_here() const noexcept { return pin_.owned_here(); }

 private:
  friend class ObjectStore;
  explicit ObjectView(detail::Pin pin) : pin_(std::move(pin)) {}
  detail::Pin pin_;
};

/// Room for an object that the ranks of one node fill in place, then seal (plasma's
/// create/seal): no copy on the way in. Made by ObjectStore::create; move-only.
template <class E>
class ObjectWriter {
 public:
  ObjectWriter(ObjectWriter&& other) noexcept
      : core_(std::exchange(other.core_, nullptr)), at_(other.at_), count_(other.count_) {}
  ObjectWriter& operator=(ObjectWriter&&) = delete;
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;
  /// Unsealed, frees its room. @note collective over the node
  ~ObjectWriter() {
    if (core_) core_->discard(at_);
  }

  /// The room in the node's arena (its bytes undefined until written): every rank of the node sees the same
  /// elements. Empty once sealed.
  [[nodiscard]] std::span<E> span() const noexcept {
    return core_ ? std::span<E>(reinterpret_cast<E*>(at_), count_) : std::span<E>();
  }
  /// Makes the room an immutable object (after a node fence: every rank's writes are
  /// in it) and returns its ref, the same on every rank of the node. Sealing moves no
  /// byte, whatever the size. The writer holds nothing afterwards.
  /// @note collective over the node
  [[nodiscard]] ObjectRef<std::vector<E>> seal() {
    if (!core_) throw InvalidArgument("lagoon::ObjectWriter.seal: sealed already (or moved from)");
    using V = std::vector<E>;
    const detail::RefData ref = core_->seal(reinterpret_cast<std::byte*>(at_), count_ * sizeof(E),
                                            detail::type_tag(detail::type_name<V>()), detail::type_name<V>());
    core_ = nullptr;  // sealed: the room is the object's now (a failed seal leaves it the writer's)
    return detail::RefAccess::make<V>(ref);
  }

 private:
  friend class ObjectStore;
  ObjectWriter(detail::StoreCore& core, std::byte* at, std::size_t count) : core_(&core), at_(at), count_(count) {}
  detail::StoreCore* core_;
  std::byte* at_;
  std::size_t count_;
};

/// Ray-like object store: any rank puts, any rank on any node gets by reference.
///
/// Each node keeps one arena (a shared segment with a Boost.Interprocess heap).
///   - `put` copies the value into the putting rank's node arena (not collective).
///   - `get` of Shareable data (a value, a std::vector or std::span of elements)
///     returns an ObjectView aliasing the arena: no copy on the owner's node; on
///     another node the first get brings the bytes over once (while the owner
///     computes: the node's transport service answers) and caches them in that
///     node's arena, so the node's other ranks read them in place too.
///   - `get` of anything else deserializes the object's Boost.Serialization archive.
///   - `free` (by the rank that put it) releases the bytes on every node.
///
/// **Example**:
///   lagoon::ObjectStore store(rt);                        // collective
///   lagoon::ObjectRef<std::vector<double>> ref;
///   if (rt.rank() == 0) ref = store.put(std::vector<double>(1 << 20, 1.0));
///   ref = lagoon::broadcast(rt, ref, 0);                   // refs are Shareable
///   auto v = store.get(ref);                              // ObjectView<double>
///   double s = std::accumulate(v.begin(), v.end(), 0.0);
class ObjectStore {
 public:
  /// An arena of `bytes_per_node` on every node (0: LAGOON_STORE_BYTES, else
  /// default_capacity()). @note collective over the world
  explicit ObjectStore(const Runtime& rt, std::size_t bytes_per_node = 0) : core_(rt, bytes_per_node) {}
  /// Frees every node's arena once no rank has a request in flight (nothing, once
  /// moved from). @note collective over the world
  ~ObjectStore() = default;
  /// Moved from, a store holds nothing: every call throws InvalidArgument.
  ObjectStore(ObjectStore&&) noexcept = default;
  /// Ends this store first. @note collective over the world
  ObjectStore& operator=(ObjectStore&&) noexcept = default;

  /// The type of `put(value)`'s ref: ObjectRef<T> (a span gives a vector's ref).
  template <class T>
  [[nodiscard]] ObjectRef<T> put(const T& value) {
    if constexpr (detail::raw_range<T>::value) {
      using E = typename detail::raw_range<T>::element;
      return put_raw<T>(std::as_bytes(std::span<const E>(value.data(), value.size())));
    } else if constexpr (Shareable<T>) {
      return put_raw<T>(std::as_bytes(std::span<const T, 1>(&value, 1)));
    } else {
      thread_local std::vector<std::byte> buffer;
      buffer.clear();
      detail::serialize_into(value, buffer);
      return ObjectRef<T>(core_.put(tag<T>(), detail::type_name<T>(), buffer));
    }
  }
  /// Stores the elements as raw bytes; get returns an ObjectView<E>.
  template <class E, std::size_t N>
    requires Shareable<std::remove_const_t<E>>
  [[nodiscard]] ObjectRef<std::vector<std::remove_const_t<E>>> put(std::span<E, N> elements) {
    using V = std::vector<std::remove_const_t<E>>;
    return put_raw<V>(std::as_bytes(elements));
  }

  /// Room for `n` elements in this node's arena (not zero-filled: write every element), that the node's ranks fill
  /// in place (`w.span()`), then `w.seal()`: an object of type std::vector<E> with no copy
  /// on the way in. Until sealed it has no ref, so no get can see it half-written.
  /// OutOfMemory (on every rank of the node) when the arena cannot make room.
  /// @note collective over the node that will own it (its ranks only)
  ///
  /// **Example**: `auto w = store.create<double>(n); fill(w.span()); auto ref = w.seal();`
  template <class E>
    requires Shareable<E> && (!std::is_same_v<E, bool>)
  [[nodiscard]] ObjectWriter<E> create(std::size_t n) {
    if (n > SIZE_MAX / sizeof(E))
      throw InvalidArgument("lagoon::ObjectStore.create: " + std::to_string(n) + " elements overflow a size");
    return ObjectWriter<E>(core_, core_.create(n * sizeof(E)), n);
  }

  /// Turns a SharedArray into an object without a copy: every node's copy of the array
  /// becomes that object's copy on that node (so no node ever fetches it), owned by
  /// world rank 0's node; any rank of that node may free it. The same ref comes back on
  /// every rank, and `array` is moved from. The node copies should agree (fence, or
  /// publish, first): each node reads its own. Their memory returns when the store
  /// ends (a window is freed collectively), not at free. @note collective over the world
  ///
  /// **Example**: `auto ref = store.adopt(std::move(a));   // a SharedArray<double>`
  template <class E>
  [[nodiscard]] ObjectRef<std::vector<E>> adopt(SharedArray<E>&& array) {
    using V = std::vector<E>;
    const std::size_t bytes = array.bytes();
    return ObjectRef<V>(core_.adopt(detail::take_replica(std::move(array)), bytes, tag<V>(), detail::type_name<V>()));
  }

  /// ObjectView<E> for a vector of Shareable E, ObjectView<T> (one element) for a
  /// Shareable T, else a T read from its archive. Throws InvalidArgument for an empty
  /// ref or one of another store, TypeMismatch when the object was put as another type,
  /// ObjectFreed after free, DeserializeError for a corrupt archive.
  template <class T>
  [[nodiscard]] auto get(const ObjectRef<T>& ref) const {
    detail::Pin pin = core_.pin(ref.data_, tag<T>(), detail::type_name<T>());
    if constexpr (detail::raw_range<T>::value) {
      return ObjectView<typename detail::raw_range<T>::element>(std::move(pin));
    } else if constexpr (Shareable<T>) {
      return ObjectView<T>(std::move(pin));
    } else {
      T value{};
      detail::deserialize(std::span<const std::byte>(pin.data(), pin.bytes()), value,
                          "lagoon::ObjectStore.get<" + std::string(detail::type_name<T>()) + ">");
      return value;
    }
  }

  /// Releases the object's bytes on every node (where a view still reads them, when
  /// that view goes). Only the rank that put it may free it; a second free, or a get
  /// after, throws ObjectFreed.
  template <class T>
  void free(const ObjectRef<T>& ref) {
    core_.free(ref.data_);
  }

  /// Every node's arena (asks the other nodes' services; not collective).
  [[nodiscard]] std::vector<StoreStats> stats() const { return core_.stats(); }
  /// This node's arena.
  [[nodiscard]] StoreStats local_stats() const { return core_.local_stats(); }
  /// Bytes of each node's arena.
  [[nodiscard]] std::size_t capacity() const noexcept { return core_.capacity(); }
  /// Whether `p` points into this node's arena (a view's data() does).
  [[nodiscard]] bool in_arena(const void* p) const noexcept { return core_.in_arena(p); }
  /// One line: the arena's capacity and where it came from (argument, LAGOON_STORE_BYTES
  /// or the default), and this node's use of it.
  [[nodiscard]] std::string describe() const { return core_.describe(); }
  /// The capacity a store takes when neither the constructor nor LAGOON_STORE_BYTES
  /// gives one: 1 GiB, or an eighth of the node's available memory if that is less.
  [[nodiscard]] static std::size_t default_capacity() { return detail::StoreCore::default_capacity(); }

 private:
  template <class T>
  static constexpr std::uint64_t tag() {
    return detail::type_tag(detail::type_name<T>());
  }
  template <class T>
  ObjectRef<T> put_raw(std::span<const std::byte> bytes) {
    return ObjectRef<T>(core_.put(tag<T>(), detail::type_name<T>(), bytes));
  }

  friend struct detail::StoreAccess;
  detail::StoreCore core_;
};

namespace detail {
/// What lagoon's own layers (tasks) reach of a store.
struct StoreAccess {
  [[nodiscard]] static StoreCore& core(ObjectStore& store) noexcept { return store.core_; }
};
}  // namespace detail

}  // namespace lagoon
