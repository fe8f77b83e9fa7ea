// The type-free core of SharedArray<T>: the node's copy in a Segment, and what keeps
// the copies of all nodes alike (publish, and the share exchange of for_each).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <memory>
#include <string>

#include "lagoon/runtime.hpp"
#include "lagoon/segment.hpp"

namespace lagoon::detail {

class Context;

/// One copy of `bytes` per node. Moved from, it holds nothing and every call throws
/// InvalidArgument.
class Replica {
 public:
  Replica() = default;
  /// @note collective over the world
  Replica(const Runtime& rt, std::size_t bytes, std::size_t alignment, std::string what);
  Replica(Replica&&) noexcept = default;
  /// Frees this replica's own copy first. @note collective over the node
  Replica& operator=(Replica&&) noexcept = default;
  /// @note collective over the node
  ~Replica() = default;

  /// The node's copy; throws InvalidArgument once moved from, RuntimeFinalized once
  /// the Runtime is gone.
  [[nodiscard]] std::byte* data() const;
  /// Throws as data() does.
  void check() const;
  /// @note collective over the node
  void fence() const;
  /// Every node's copy becomes world rank `root`'s node's copy: leader to leader,
  /// straight into the other windows, in messages of at most max_message_bytes.
  /// @note collective over the world
  void publish(int root) const;
  /// After each rank wrote its world share (of `count` items of `item_bytes` each,
  /// as lagoon::share splits them) in its own node's copy, every node gets every
  /// share: the copies agree again. @note collective over the world
  void exchange_shares(std::size_t count, std::size_t item_bytes) const;
  /// The world communicator of the Runtime the replica was made with.
  [[nodiscard]] MPI_Comm world() const;

 private:
  std::shared_ptr<Context> ctx_;
  Segment segment_;
  std::string what_;
};

}  // namespace lagoon::detail
