// The type-free core of ObjectStore: the node arena, its table of objects, pins
// that keep an object's bytes alive while a view reads them, and the cross-node
// fetch, drop and stats requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lagoon/detail/hash.hpp"
#include "lagoon/detail/replica.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/store_stats.hpp"

namespace lagoon {

namespace detail {

/// What an ObjectRef holds: where the object lives, what it is, how big.
struct RefData {
  std::uint32_t store = 0;   ///< the store's id (0: an empty ref)
  std::int32_t node = -1;    ///< the owning node
  std::uint64_t serial = 0;  ///< the object's number on its node (never reused)
  std::uint64_t bytes = 0;
  std::uint64_t tag = 0;  ///< type_tag of the type it was put as
  friend bool operator==(const RefData&, const RefData&) = default;
};

class StoreState;

/// Keeps one object's bytes in the node arena while it lives (move-only).
class Pin {
 public:
  Pin() noexcept;
  Pin(Pin&&) noexcept;
  Pin& operator=(Pin&&) noexcept;
  ~Pin();
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

  [[nodiscard]] const std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] bool fetched() const noexcept { return fetched_; }
  [[nodiscard]] bool owned_here() const noexcept { return owned_here_; }
  /// Unpins now (the bytes may go once no rank of the node pins them).
  void reset() noexcept;

 private:
  friend class StoreCore;
  std::shared_ptr<StoreState> state_;
  RefData ref_;
  const std::byte* data_ = nullptr;
  std::size_t bytes_ = 0;
  bool fetched_ = false;
  bool owned_here_ = false;
};

class StoreCore {
 public:
  /// `bytes` per node; 0 takes LAGOON_STORE_BYTES, else default_capacity().
  /// @note collective over the world
  StoreCore(const Runtime& rt, std::size_t bytes);
  /// Waits until no rank has a request in flight, then frees the arena (nothing, once
  /// moved from). @note collective over the world
  ~StoreCore();
  StoreCore(const StoreCore&) = delete;
  StoreCore& operator=(const StoreCore&) = delete;
  StoreCore(StoreCore&&) noexcept = default;
  /// Ends this store first. @note collective over the world
  StoreCore& operator=(StoreCore&&) noexcept;

  /// Copies `bytes` into this node's arena as a new object of `type`.
  [[nodiscard]] RefData put(std::uint64_t tag, std::string_view type, std::span<const std::byte> bytes);
  /// Room for `bytes` in this node's arena (its leader allocates it), the same on every
  /// rank of the node; throws OutOfMemory on every rank of the node. @note collective over the node
  [[nodiscard]] std::byte* create(std::size_t bytes);
  /// Makes the room `at` (from create) an object of `type`: after a node fence, the
  /// leader enters it in the table; every rank of the node gets its ref.
  /// @note collective over the node
  [[nodiscard]] RefData seal(std::byte* at, std::size_t bytes, std::uint64_t tag, std::string_view type);
  /// Makes every node's copy of `replica` the copy of one new object owned by world rank
  /// 0's node (no byte moves, no node fetches it); the same ref on every rank. The
  /// copies are kept until the store ends. @note collective over the world
  [[nodiscard]] RefData adopt(Replica replica, std::size_t bytes, std::uint64_t tag, std::string_view type);
  /// Frees a room that was never sealed. @note collective over the node
  void discard(std::byte* at) noexcept;
  /// The object's bytes in this node's arena, fetched from its node first if needed.
  [[nodiscard]] Pin pin(const RefData& ref, std::uint64_t tag, std::string_view type) const;
  void free(const RefData& ref);
  /// Frees an object that lagoon put on a user's behalf (a task's large result), from
  /// any rank of any node: its node marks it freed, every other node drops its copy.
  /// ObjectFreed when it was freed already.
  void release(const RefData& ref);

  [[nodiscard]] StoreStats local_stats() const;
  [[nodiscard]] std::vector<StoreStats> stats() const;
  [[nodiscard]] std::size_t capacity() const noexcept;
  [[nodiscard]] bool in_arena(const void* p) const noexcept;
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] static std::size_t default_capacity();

 private:
  /// The state; throws InvalidArgument once moved from, RuntimeFinalized once the
  /// Runtime is gone.
  StoreState& state(const char* call) const;
  std::shared_ptr<StoreState> state_;
};

/// The tag an ObjectRef carries and get checks: the hash of its type's name.
[[nodiscard]] constexpr std::uint64_t type_tag(std::string_view name) { return fnv1a(name); }

}  // namespace detail
}  // namespace lagoon
