// The thin core: move-only RAII over the MPI objects lagoon uses (communicators,
// shared windows, outstanding requests, probed messages) and transfers of any byte
// count. Every MPI call lagoon makes outside the algorithms' one allgather is here.
#pragma once

#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lagoon/error.hpp"

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
  /// The largest tag this communicator accepts (MPI_TAG_UB).
  [[nodiscard]] int tag_upper_bound() const;

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

/// MPI_Bcast of one trivially copyable value (or array of them) from `root`.
/// @note collective over `comm`
template <class T>
void bcast_value(T& value, int root, MPI_Comm comm) {
  bcast_bytes(&value, sizeof value, root, comm);
}

/// `root`'s string on every rank of `comm` (its length, then its characters).
/// @note collective over `comm`
void bcast_string(std::string& text, int root, MPI_Comm comm);

/// MPI_Allgather of `bytes` bytes from every rank into `all` (size() * bytes, in
/// rank order). @note collective over `comm`
void allgather_bytes(const void* mine, std::size_t bytes, void* all, MPI_Comm comm);
/// MPI_Gather of `bytes` bytes from every rank into `all` on `root` (size() * bytes, in
/// rank order; unused elsewhere). @note collective over `comm`
void gather_bytes(const void* mine, std::size_t bytes, void* all, int root, MPI_Comm comm);

/// This process's host, as MPI names it (MPI_Get_processor_name).
[[nodiscard]] std::string processor_name();
/// The thread level MPI was initialized with (MPI_Query_thread).
[[nodiscard]] int thread_level();

// ---- point to point ----
//
// Every blocking point-to-point call below waits by polling (MPI_Test*, yielding the
// core once the wait is longer than a few microseconds) and gives up once nothing has
// moved for the process's patience: it then throws TimedOut naming the call and the
// peer. (Open MPI's own MPI_Wait spins as well; over TCP a peer behind a cut link
// makes it wait until the kernel gives up on the connection: 15 minutes by default.)

/// A blocking point-to-point call that saw no progress within the patience.
class TimedOut : public TransportError {
 public:
  TimedOut(const std::string& what, int peer) : TransportError(what), peer_(peer) {}
  /// The rank waited for (in the call's communicator), or MPI_ANY_SOURCE.
  [[nodiscard]] int peer() const noexcept { return peer_; }

 private:
  int peer_;
};

/// How long a blocking point-to-point call waits without progress before it throws
/// TimedOut; zero (the default) waits forever. Process-wide.
void set_patience(std::chrono::milliseconds patience) noexcept;
[[nodiscard]] std::chrono::milliseconds patience() noexcept;

/// Outstanding nonblocking operations, owned. Whatever has not completed when the
/// owner lets go (an error on the way, or a destructor) is cancelled and freed, so no
/// receive ever writes into a buffer that was handed back.
///
///   mpi::Requests r;
///   mpi::irecv_bytes(buffer, n, source, tag, comm, chunk, r);
///   ... send the request that makes the peer answer ...
///   while (!r.test_all()) { /* other work */ }
class Requests {
 public:
  Requests() = default;
  Requests(const Requests&) = delete;
  Requests& operator=(const Requests&) = delete;
  Requests(Requests&& other) noexcept : requests_(std::exchange(other.requests_, {})) {}
  Requests& operator=(Requests&& other) noexcept;
  /// Cancels and frees what is still outstanding; errors are ignored.
  ~Requests() { cancel(); }

  /// A slot for one more request (pass it to an MPI_I* call).
  [[nodiscard]] MPI_Request* add();
  [[nodiscard]] bool empty() const noexcept { return requests_.empty(); }
  /// Drops the requests that completed (MPI_Testsome); returns how many are left.
  std::size_t reap();
  /// MPI_Testall: whether all completed (the set is empty after, if so).
  [[nodiscard]] bool test_all();
  /// Waits for one outstanding request (MPI_Testany, polled); returns its index (in the
  /// order they were added) and the bytes it received. Throws TimedOut after the
  /// patience without any completion.
  [[nodiscard]] std::pair<std::size_t, std::size_t> wait_any();
  /// Cancels every outstanding request and waits for each to end (MPI_Cancel, then
  /// MPI_Test until it ends; after the patience, a request that does not end (its peer
  /// is gone) is left to MPI: the job is ending).
  void cancel() noexcept;

 private:
  std::vector<MPI_Request> requests_;
};

/// MPI_Iallreduce (MPI_SUM) of `count` 64-bit counters into `out`, added to `into`.
/// @note collective over `comm`
void iallreduce_sum(const std::uint64_t* in, std::uint64_t* out, int count, MPI_Comm comm, Requests& into);

/// MPI_Isend of `bytes` bytes in messages of at most `chunk` bytes (one empty message
/// for 0 bytes, so that a receive of 0 bytes always has its match), each waited for.
void send_bytes(const void* data, std::size_t bytes, int dest, int tag, MPI_Comm comm,
                std::size_t chunk = max_message_bytes);
/// MPI_Irecv of `bytes` bytes sent by send_bytes with the same `chunk`, each waited for.
void recv_bytes(void* data, std::size_t bytes, int source, int tag, MPI_Comm comm,
                std::size_t chunk = max_message_bytes);
/// MPI_Isend of one message of `bytes` (< 2 GiB) bytes, added to `into`.
void isend_bytes(const void* data, std::size_t bytes, int dest, int tag, MPI_Comm comm, Requests& into);
/// MPI_Irecv of `bytes` bytes in pieces of at most `chunk`, each added to `into`.
void irecv_bytes(void* data, std::size_t bytes, int source, int tag, MPI_Comm comm, std::size_t chunk,
                 Requests& into);

/// A message matched by a probe and not yet received (MPI_Message): move-only and
/// received exactly once, by `receive`, or dropped by the destructor.
class Message {
 public:
  /// MPI_Improbe: the next message from `source` with `tag`, if one has arrived.
  [[nodiscard]] static std::optional<Message> try_probe(int source, int tag, MPI_Comm comm);
  /// Waits for the next message from `source` with `tag` (MPI_Improbe, polled).
  [[nodiscard]] static Message probe(int source, int tag, MPI_Comm comm);

  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  Message(Message&& other) noexcept
      : message_(std::exchange(other.message_, MPI_MESSAGE_NULL)), source_(other.source_), bytes_(other.bytes_) {}
  Message& operator=(Message&&) = delete;
  /// Receives and drops the message if nobody did (a matched message must be received).
  ~Message();

  [[nodiscard]] int source() const noexcept { return source_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  /// MPI_Mrecv into `into`, which holds bytes() bytes.
  void receive(void* into);
  /// MPI_Mrecv into a new buffer of bytes() bytes.
  [[nodiscard]] std::vector<std::byte> receive();

 private:
  Message(MPI_Message message, const MPI_Status& status);
  MPI_Message message_ = MPI_MESSAGE_NULL;
  int source_ = -1;
  std::size_t bytes_ = 0;
};

}  // namespace lagoon::mpi
