// SharedMap<K, V>: a dictionary every rank of every node shares, like Python's
// multiprocessing.Manager().dict(), with an atomic read-modify-write.
#pragma once

#include <boost/archive/basic_archive.hpp>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lagoon/detail/archive.hpp"
#include "lagoon/serialization.hpp"  // the standard containers, so that they need no include of the user's
#include "lagoon/detail/map_core.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/runtime.hpp"

namespace lagoon {

/// A dictionary shared by every rank. Keys and values are stored as
/// Boost.Serialization archives; a key lives on the node its archive's hash names,
/// in that node's arena (a shared segment with a Boost.Interprocess heap). The node's
/// ranks read and write it in shared memory; ranks of other nodes send the node's
/// transport service a request, answered while the node's ranks compute.
///
/// Every call is complete when it returns: a `set` on one rank is seen by a `get`
/// that starts after it on any rank. `update` is atomic: no update is lost.
///
/// **Example**:
///   lagoon::SharedMap<std::string, long> counts(rt);   // collective
///   counts.update("seen", [](std::optional<long> n) { return n.value_or(0) + 1; });
///   if (auto n = counts.get("seen")) std::printf("%ld\n", *n);
template <class K, class V>
class SharedMap {
 public:
  /// An arena of `bytes_per_node` on every node (0: LAGOON_MAP_BYTES, else 64 MiB).
  /// @note collective over the world
  explicit SharedMap(const Runtime& rt, std::size_t bytes_per_node = 0)
      : core_(rt, bytes_per_node,
              "lagoon::SharedMap<" + std::string(detail::type_name<K>()) + ", " + std::string(detail::type_name<V>()) +
                  ">") {}

  /// Moved from, a map holds nothing: every call throws InvalidArgument.
  SharedMap(SharedMap&&) noexcept = default;
  /// Ends this map first. @note collective over the world
  SharedMap& operator=(SharedMap&&) noexcept = default;
  /// Waits until no rank has a request in flight, then frees every node's arena
  /// (nothing, once moved from). @note collective over the world
  ~SharedMap() = default;

  /// Sets `key` to `value` (inserting it if absent).
  void set(const K& key, const V& value) {
    const auto k = key_bytes(key);
    core_.set(k, value_bytes(value));
  }
  /// A copy of `key`'s value, or nothing.
  [[nodiscard]] std::optional<V> get(const K& key) const { return decode(core_.get(key_bytes(key), true)); }
  [[nodiscard]] bool contains(const K& key) const { return core_.get(key_bytes(key), false).present; }
  /// Removes `key`; returns whether it was there.
  bool erase(const K& key) { return core_.erase(key_bytes(key)); }
  /// Keys over all nodes (asks every node; not collective).
  [[nodiscard]] std::size_t size() const { return core_.size(); }

  /// Every entry of every node, as (key, value) copies: a snapshot of each node's part
  /// (each node is asked once, in node order; a node's part is read under its lock, so
  /// it holds no half-done update), in no particular order. Any rank; not collective.
  [[nodiscard]] std::vector<std::pair<K, V>> items() const {
    std::vector<std::pair<K, V>> out;
    for (const auto& [k, v] : core_.items(true)) {
      std::pair<K, V>& item = out.emplace_back();
      detail::deserialize(std::span<const std::byte>(k), item.first, core_.what() + ".items", kFlags);
      detail::deserialize(std::span<const std::byte>(v), item.second, core_.what() + ".items", kFlags);
    }
    return out;
  }
  /// Every key of every node, as items() takes them (values do not travel).
  [[nodiscard]] std::vector<K> keys() const {
    std::vector<K> out;
    for (const auto& entry : core_.items(false))
      detail::deserialize(std::span<const std::byte>(entry.first), out.emplace_back(), core_.what() + ".keys", kFlags);
    return out;
  }

  /// Sets `key` to `f(old)` atomically, where `old` is its value (or nothing), and
  /// returns the new value. No update is lost: when another rank changed the key
  /// between the read and the write, `f` runs again on the newer value, so `f` must
  /// be a pure function of its argument (as with std::atomic's compare_exchange).
  template <class F>
  V update(const K& key, F&& f) {
    const auto k = key_bytes(key);
    detail::MapValue current = core_.get(k, true);
    for (;;) {
      V next = f(decode(current));
      const auto bytes = value_bytes(next);
      if (core_.compare_and_set(k, current.version, bytes, current)) return next;
    }
  }

  /// Bytes of each node's arena.
  [[nodiscard]] std::size_t capacity() const noexcept { return core_.capacity(); }

 private:
  static constexpr unsigned kFlags = boost::archive::no_header;

  static std::vector<std::byte> key_bytes(const K& key) {
    std::vector<std::byte> out;
    detail::serialize_into(key, out, kFlags);
    return out;
  }
  static std::vector<std::byte> value_bytes(const V& value) {
    std::vector<std::byte> out;
    detail::serialize_into(value, out, kFlags);
    return out;
  }
  std::optional<V> decode(const detail::MapValue& v) const {
    if (!v.present) return std::nullopt;
    std::optional<V> out(std::in_place);
    detail::deserialize(std::span<const std::byte>(v.bytes), *out, core_.what() + ".get", kFlags);
    return out;
  }

  detail::MapCore core_;
};

}  // namespace lagoon
