// The Runtime's shared state: the communicators, the node map, the job's settings
// and an ordered list of clean-up callbacks run (newest first) before MPI_Finalize.
// It knows nothing of the layers above it: segments, the transport and the served
// objects register their own clean-up, and keep their own per-runtime state in a slot.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lagoon/mpi.hpp"
#include "lagoon/runtime.hpp"

namespace lagoon::detail {

class Context {
 public:
  /// Builds the communicators over `parent`. `owns_mpi`: MPI_Finalize at shutdown.
  /// @note collective over `parent`
  Context(MPI_Comm parent, bool owns_mpi, std::string shm_note);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// Runs the clean-ups newest first, frees the communicators, then MPI if owned.
  /// @note collective over the world
  void shutdown() noexcept;
  /// Throws RuntimeFinalized, naming `what`, once shutdown() has run.
  void check_alive(const char* what) const;
  [[nodiscard]] bool finalized() const noexcept { return finalized_; }

  /// Something to do at shutdown, before MPI_Finalize, for an object that outlives the
  /// Runtime (free a window, stop a service). Must not throw. Clean-ups run newest
  /// first; collective ones are registered in the same order on every rank, as the
  /// objects that register them are made collectively.
  using Cleanup = std::function<void()>;
  /// Returns the key that `forget` takes once the owner has cleaned up by itself.
  [[nodiscard]] std::uint64_t at_shutdown(Cleanup cleanup);
  void forget(std::uint64_t key) noexcept;

  /// State that a higher layer makes on first use and keeps for the Runtime's life
  /// (the transport), under the address of a key object of that layer.
  [[nodiscard]] std::shared_ptr<void>& slot(const void* key) { return slots_[key]; }

  /// An id for a new object served across nodes: the same on every rank, since
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
  std::uint64_t next_cleanup_ = 0;
  std::vector<std::pair<std::uint64_t, Cleanup>> cleanups_;  ///< oldest first
  std::map<const void*, std::shared_ptr<void>> slots_;
  std::uint32_t objects_ = 0;
};

/// Ends the whole job from this rank: a message naming the rank, `why` and `what`,
/// then MPI_Abort (every launcher, srun too, then stops every rank). The one way
/// lagoon ends a job: an uncaught exception, a Runtime left by one, a broken service.
[[noreturn]] void abort_job(MPI_Comm comm, const char* why, const std::string& what);

/// The shared state of `rt`, which lagoon's objects keep alive (and check) after the
/// Runtime is gone.
[[nodiscard]] const std::shared_ptr<Context>& context_of(const Runtime& rt) noexcept;

}  // namespace lagoon::detail
