// Segment: one node-wide block of shared memory in an MPI-3 shared window,
// allocated collectively; its base pointer is valid in every rank of the node.
// Memory only: copies between nodes belong to the arrays built on it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "lagoon/runtime.hpp"

namespace lagoon {

namespace detail {
class SegmentState;
}

/// `bytes` of zero-filled memory, one block per node, shared by the node's ranks.
///
/// Creation checks the node's free memory first, then every rank of the node
/// populates (first-touches) its own share of the pages, in parallel, so that a
/// shortage is an error (OutOfMemory on every rank), not a SIGBUS later, and the
/// pages land near the rank that uses them.
///
/// **Example**:
///   lagoon::Segment s(rt, 1 << 20);   // 1 MiB per node
///   s.data()[rt.node_rank()] = std::byte{1};
///   s.fence();                        // the node's ranks now see each other's writes
class Segment {
 public:
  Segment() noexcept;
  /// @param what names the owner in error messages ("lagoon::SharedArray<double> {10, 10}").
  /// @note collective over the world
  Segment(const Runtime& rt, std::size_t bytes, std::size_t alignment = 64, std::string what = "lagoon::Segment");
  /// @note collective over the node
  ~Segment();
  Segment(Segment&&) noexcept;
  /// Frees this segment's own window first. @note collective over the node
  Segment& operator=(Segment&&) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  [[nodiscard]] std::byte* data() const noexcept;
  [[nodiscard]] std::size_t bytes() const noexcept;

  /// Writes by any rank of the node before fence() are seen by all of its ranks after.
  /// @note collective over the node
  void fence() const;
  /// A memory barrier for this rank's loads and stores of the segment (MPI_Win_sync);
  /// not collective.
  void sync() const;
  /// Throws InvalidArgument for a moved-from segment, RuntimeFinalized once the
  /// Runtime is gone.
  void check_alive() const;

 private:
  std::unique_ptr<detail::SegmentState> state_;
};

}  // namespace lagoon
