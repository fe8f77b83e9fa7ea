// The type-free core of SharedMap: keys and values as archive bytes, each key held
// by the node its hash names, in that node's arena; the node's ranks work on it in
// shared memory, other nodes through the node's transport service.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lagoon/runtime.hpp"

namespace lagoon::detail {

/// A key's value as a map read it: whether it is there, its version (a number the
/// owner node never gives twice; 0 when absent) and its archive.
struct MapValue {
  bool present = false;
  std::uint64_t version = 0;
  std::vector<std::byte> bytes;
};

class MapState;

class MapCore {
 public:
  /// `bytes` per node; 0 takes LAGOON_MAP_BYTES, else 64 MiB. @note collective over the world
  MapCore(const Runtime& rt, std::size_t bytes, std::string what);
  /// Waits until no rank has a request in flight, then frees the arena (nothing, once
  /// moved from). @note collective over the world
  ~MapCore();
  MapCore(const MapCore&) = delete;
  MapCore& operator=(const MapCore&) = delete;
  MapCore(MapCore&&) noexcept;
  /// Ends this map first. @note collective over the world
  MapCore& operator=(MapCore&&) noexcept;

  /// The node that holds `key`.
  [[nodiscard]] int owner(std::span<const std::byte> key) const;
  [[nodiscard]] MapValue get(std::span<const std::byte> key, bool with_value) const;
  void set(std::span<const std::byte> key, std::span<const std::byte> value);
  bool erase(std::span<const std::byte> key);
  /// Sets `key` to `value` if its version is still `expected` (0: if it is absent);
  /// otherwise leaves it and returns false with `current` read anew.
  bool compare_and_set(std::span<const std::byte> key, std::uint64_t expected, std::span<const std::byte> value,
                       MapValue& current);
  /// Keys over all nodes (asks the other nodes).
  [[nodiscard]] std::size_t size() const;
  /// Every node's entries (key and, `with_values`, value archives), each node asked
  /// once; each node's part is a snapshot taken under its lock.
  [[nodiscard]] std::vector<std::pair<std::vector<std::byte>, std::vector<std::byte>>> items(bool with_values) const;
  [[nodiscard]] std::size_t capacity() const noexcept;
  [[nodiscard]] const std::string& what() const;

 private:
  /// The state; throws InvalidArgument once moved from, RuntimeFinalized once the
  /// Runtime is gone.
  MapState& state(const char* call) const;
  std::unique_ptr<MapState> state_;
};

}  // namespace lagoon::detail
