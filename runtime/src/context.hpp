// The Runtime's shared state: communicators, node map, settings and the registry
// of live segments, which outlive the Runtime object only as far as they must.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lagoon/mpi.hpp"
#include "lagoon/runtime.hpp"

namespace lagoon::detail {

class SegmentState;
class Transport;

class Context {
 public:
  /// Builds the communicators over `parent`. `owns_mpi`: MPI_Finalize at shutdown.
  Context(MPI_Comm parent, bool owns_mpi, std::string shm_note);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// Stops the transport, frees the registered segments (newest first), the
  /// communicators, then MPI if owned. @note collective
  void shutdown() noexcept;
  /// Throws RuntimeFinalized, naming `what`, once shutdown() has run.
  void check_alive(const char* what) const;
  [[nodiscard]] bool finalized() const noexcept { return finalized_; }

  void add(SegmentState* segment) { segments_.push_back(segment); }
  void remove(SegmentState* segment) noexcept;

  /// The cross-node transport, started by the first caller on a job of more than one
  /// node; null on one node (nothing crosses a node there). @note collective the first time
  Transport* transport();
  /// An id for a new object served by the transport: the same on every rank, since
  /// objects are made collectively, in the same order.
  [[nodiscard]] std::uint32_t next_object_id() noexcept { return ++objects_; }

  mpi::Comm world;
  mpi::NodeComm node;
  mpi::Comm leaders;
  int node_index = 0;
  int node_count = 1;
  std::vector<int> node_of_rank;
  std::vector<int> leader_of_node;
  Settings settings;

 private:
  bool owns_mpi_ = false;
  bool finalized_ = false;
  std::vector<SegmentState*> segments_;
  std::unique_ptr<Transport> transport_;
  std::uint32_t objects_ = 0;
};

}  // namespace lagoon::detail
