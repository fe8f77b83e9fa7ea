// The Runtime: MPI start-up and shutdown, and the world / node / leader
// communicators every other lagoon object is built on.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "lagoon/mpi.hpp"

namespace lagoon {

class Runtime;

namespace detail {
class Context;
/// The shared state lagoon's objects keep alive after the Runtime (lagoon's own use).
[[nodiscard]] const std::shared_ptr<Context>& context_of(const Runtime& rt) noexcept;
}  // namespace detail

/// Settings from LAGOON_* environment variables. The job-wide ones are read on
/// world rank 0 and broadcast (mpirun forwards only OMPI_* variables to other nodes).
struct Settings {
  /// LAGOON_RANKS_PER_NODE: split each real node into virtual nodes of this many
  /// consecutive ranks (0: real nodes). Job-wide.
  int ranks_per_node = 0;
  /// LAGOON_MAX_MESSAGE_BYTES: the largest single MPI message lagoon sends; larger
  /// transfers go in chunks. Job-wide. Default 1 GiB, at most INT_MAX.
  std::size_t max_message_bytes = std::size_t{1} << 30;
  /// LAGOON_STORE_BYTES: the arena of an ObjectStore made without a size, per node
  /// (0: unset; the store then takes ObjectStore::default_capacity()). Job-wide.
  std::size_t store_bytes = 0;
  /// LAGOON_MAP_BYTES: the arena of a SharedMap made without a size, per node
  /// (0: unset; the map then takes SharedMap's default, 64 MiB). Job-wide.
  std::size_t map_bytes = 0;
  /// LAGOON_TIMEOUT: seconds a request to another node (and its answer) may go without
  /// any progress before the asking rank throws TransportError naming that node (its
  /// host and ranks); uncaught, that ends the job (fail-stop). 0: wait forever. A link
  /// that comes back sooner loses nothing. Job-wide. Default 60.
  int timeout_seconds = 60;
  /// LAGOON_SPILL_DIR: where an ObjectStore writes objects its node owns when its arena
  /// is full (a node-local disk; each store makes its own directory in it). As world
  /// rank 0 sees it; unset, $TMPDIR/lagoon-spill (/tmp/lagoon-spill) of each rank.
  std::string spill_dir;
  /// Where this rank's shared windows live: LAGOON_SHM_DIR if it was usable when
  /// lagoon started MPI, else Open MPI's own choice (/dev/shm on Linux). Per rank.
  std::string shm_dir;
  /// Whether `shm_dir` is backed by huge pages (tmpfs mounted huge=..., or hugetlbfs).
  bool huge_pages = false;
  /// Why LAGOON_SHM_DIR was not used, when it was set but could not be.
  std::string shm_note;
};

/// lagoon on a set of MPI processes. Make one, in `main`, before any other lagoon object.
///
/// **Example**:
///   int main(int argc, char** argv) {
///     lagoon::Runtime rt(argc, argv);   // MPI_Init unless MPI is already initialized
///     if (rt.is_node_leader()) std::printf("node %d of %d\n", rt.node(), rt.node_count());
///   }                                   // MPI_Finalize, if this Runtime initialized MPI
///
/// Fail-stop: an exception that nothing catches (std::terminate, which installs while a
/// Runtime lives), or a Runtime destroyed while an exception unwinds, ends the whole job
/// with MPI_Abort and a message naming the rank: a batch job ends instead of hanging.
class Runtime {
 public:
  /// Initializes MPI (MPI_THREAD_MULTIPLE) unless it is already initialized; runs on
  /// MPI_COMM_WORLD. A program started without mpirun runs as one rank. @note collective
  Runtime(int& argc, char**& argv);
  Runtime();
  /// Runs lagoon on the ranks of `comm` (duplicated); MPI must be initialized and is
  /// not finalized by this Runtime. @note collective over `comm`
  explicit Runtime(MPI_Comm comm);
  /// Frees what is still registered (windows), then the communicators, then finalizes
  /// MPI if this Runtime initialized it. @note collective
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  Runtime(Runtime&&) = delete;
  Runtime& operator=(Runtime&&) = delete;

  [[nodiscard]] int rank() const noexcept;        ///< in the world
  [[nodiscard]] int size() const noexcept;        ///< of the world
  [[nodiscard]] int node() const noexcept;        ///< this rank's node index, 0..node_count()-1
  [[nodiscard]] int node_count() const noexcept;  ///< number of (virtual) nodes
  [[nodiscard]] int node_rank() const noexcept;   ///< rank within the node
  [[nodiscard]] int node_size() const noexcept;   ///< ranks on this node
  [[nodiscard]] bool is_node_leader() const noexcept { return node_rank() == 0; }
  /// The node index of world rank `world_rank`.
  [[nodiscard]] int node_of(int world_rank) const;
  /// The world rank of node `node_index`'s leader.
  [[nodiscard]] int leader_of(int node_index) const;

  [[nodiscard]] const mpi::Comm& world() const noexcept;
  [[nodiscard]] const mpi::NodeComm& node_comm() const noexcept;
  /// Node leaders only (rank = node index); MPI_COMM_NULL on the other ranks.
  [[nodiscard]] const mpi::Comm& leader_comm() const noexcept;
  [[nodiscard]] const Settings& settings() const noexcept;

  /// MPI_Barrier over the world. @note collective
  void barrier() const;

 private:
  friend const std::shared_ptr<detail::Context>& detail::context_of(const Runtime& rt) noexcept;
  /// Builds the communicators, then installs the fail-stop terminate handler.
  void start(MPI_Comm comm, bool owns_mpi, std::string shm_note);

  std::shared_ptr<detail::Context> ctx_;
  int uncaught_at_start_ = 0;
  std::terminate_handler previous_terminate_ = nullptr;
};

}  // namespace lagoon
