// The thin core: move-only RAII over the MPI objects lagoon uses
// (communicators, shared windows) and transfers of any byte count.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <utility>

namespace lagoon::mpi {

/// Throws lagoon::MpiError naming `call`, the code, its class and MPI's own message
/// unless `rc` is MPI_SUCCESS. Every MPI call lagoon makes goes through here.
void check(int rc, const char* call);

/// The largest byte count one MPI call of Open MPI 4.1 can move (its counts are `int`).
inline constexpr std::size_t max_message_bytes = static_cast<std::size_t>(INT_MAX);

/// An owned communicator: move-only, freed by its destructor, errors returned (not fatal).
///
/// Duplication is an explicit call (`Comm::duplicate`), never a copy:
///   auto world = lagoon::mpi::Comm::duplicate(MPI_COMM_WORLD);
class Comm {
 public:
  Comm() = default;
  /// MPI_Comm_dup of `comm`, with MPI_ERRORS_RETURN. @note collective over `comm`
  [[nodiscard]] static Comm duplicate(MPI_Comm comm);
  /// MPI_Comm_split; a rank passing MPI_UNDEFINED gets an empty Comm. @note collective
  [[nodiscard]] Comm split(int color, int key) const;

  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  Comm(Comm&& other) noexcept
      : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
        rank_(other.rank_),
        size_(other.size_) {}
  Comm& operator=(Comm&& other) noexcept;
  /// Frees the communicator; errors are ignored. @note collective (MPI_Comm_free)
  ~Comm();
  /// Frees the communicator, throwing on error. @note collective
  void free();

  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }
  [[nodiscard]] bool is_null() const noexcept { return comm_ == MPI_COMM_NULL; }
  [[nodiscard]] MPI_Comm get() const noexcept { return comm_; }
  operator MPI_Comm() const noexcept { return comm_; }  // NOLINT: usable in plain MPI calls

  /// MPI_Barrier. @note collective
  void barrier() const;

 private:
  friend class NodeComm;
  /// Takes ownership of `comm` (already created by lagoon) and sets MPI_ERRORS_RETURN on it.
  explicit Comm(MPI_Comm comm);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = -1;
  int size_ = 0;
};

/// The ranks that share memory: a node, or a virtual node of `ranks_per_node`
/// consecutive ranks of a real node. The only way to make one is `split_shared`,
/// so a shared window (which takes only a NodeComm) can never span two nodes.
class NodeComm : public Comm {
 public:
  NodeComm() = default;
  /// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), then (ranks_per_node > 0) split again
  /// into groups of that many consecutive ranks. @note collective over `world`
  [[nodiscard]] static NodeComm split_shared(const Comm& world, int ranks_per_node);

 private:
  explicit NodeComm(Comm&& comm) : Comm(std::move(comm)) {}
};

/// An MPI-3 shared-memory window (MPI_Win_allocate_shared) on one node, with
/// MPI_ERRORS_RETURN and a passive-target epoch (lock_all) open for its lifetime,
/// so `sync()` (MPI_Win_sync) can order plain loads and stores.
class SharedWindow {
 public:
  SharedWindow() = default;
  /// Each rank contributes `local_bytes` (0 is fine). @note collective over `node`
  SharedWindow(const NodeComm& node, std::size_t local_bytes);
  SharedWindow(const SharedWindow&) = delete;
  SharedWindow& operator=(const SharedWindow&) = delete;
  SharedWindow(SharedWindow&& other) noexcept : win_(std::exchange(other.win_, MPI_WIN_NULL)) {}
  SharedWindow& operator=(SharedWindow&& other) noexcept;
  /// Closes the epoch and frees the window; errors are ignored. @note collective over the node
  ~SharedWindow();
  /// Closes the epoch and frees the window, throwing on error. @note collective over the node
  void free();

  /// Start of `node_rank`'s part, valid in every rank of the node (MPI_Win_shared_query).
  [[nodiscard]] std::byte* base(int node_rank) const;
  /// MPI_Win_sync: a memory barrier for this window's loads and stores.
  void sync() const;
  [[nodiscard]] bool is_null() const noexcept { return win_ == MPI_WIN_NULL; }
  [[nodiscard]] MPI_Win get() const noexcept { return win_; }

 private:
  MPI_Win win_ = MPI_WIN_NULL;
};

/// MPI_Bcast of `bytes` bytes in calls of at most `chunk` bytes each, so any size
/// goes through (Open MPI 4.1 has no large-count calls). @note collective over `comm`
void bcast_bytes(void* data, std::size_t bytes, int root, MPI_Comm comm,
                 std::size_t chunk = max_message_bytes);

}  // namespace lagoon::mpi
