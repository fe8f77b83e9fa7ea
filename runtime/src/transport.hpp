// The cross-node transport: one protocol (call, post, flush) between any rank and
// the service thread of another node's leader, which answers while the node's ranks
// compute. It stands on the thin core (lagoon::mpi): it makes no MPI call itself.
//
// Why a thread. A GlobalArray get (or an object fetch) must complete while the
// owning node's ranks are busy and make no MPI call. MPI one-sided access does not
// promise that here: with `--mca btl self,tcp` Open MPI 4.1 cannot create a world
// RMA window at all, and over UCX/TCP a passive-target MPI_Get waits until the
// target calls MPI again. Two-sided messages always work, so each node leader runs
// one service thread (MPI_THREAD_MULTIPLE) that receives requests and moves the
// bytes straight between the node's shared memory and the wire.
//
// Protocol (docs/architecture.md draws it). Every message travels on the transport's
// own duplicate of the world communicator, so it never matches a user's message.
//   - A request is a Header, the client's arguments (`args`: a small struct of its
//     own, always in the first message) and a body (`body`: bulk bytes). The first
//     message, on kRequestTag to the service of the target's node, holds the header,
//     the args and, when it fits kInlineBytes (and the message limit), the body; a
//     larger body follows in pieces of at most 4 MiB on the request's body tag (its
//     reply tag moved to the upper half of the tags), received straight into place.
//   - The transport's own verbs (Verb) are call, post, flush, stop and batch. What a
//     request asks of its target is the target's own verb (Header::op), from the
//     target's enum (GlobalArray's, the store's, the map's): the transport never
//     looks at it.
//   - `call` is answered once. A call whose client knows the answer's size posts its
//     receives before the request goes out: the body's pieces on reply_tag + 1, and one
//     for an error on the reply tag; a successful answer is the body alone, straight
//     into place (one message for a small get), and an error is an AnswerHead (its
//     ErrorKind) and its message on the reply tag, after which the client cancels the
//     body's receives. A call whose answer has a size only the target knows gets an
//     AnswerHead (an ErrorKind and a size) on the reply tag, then the body: inline when
//     it fits, else in pieces on the reply tag. Either way the client throws a
//     target's error as the same Error subclass, with its message.
//   - `post` is one-way. Posts whose header + args + body fit kInlineBytes are packed
//     (no batch larger than LAGOON_MAX_MESSAGE_BYTES either),
//     per node, into one `batch` message, sent when full, before any other request to
//     that node (so order holds), and at flush: a stream of 8-byte accumulates costs a
//     message per few hundred, not one each. A post that fails on the service is
//     counted, and the client's next flush throws the first failure's kind and message.
//   - `flush` (which fences and destructors call) sends each node the client's batch
//     and a flush request, and returns once every node answered: after everything the
//     client sent before. At most kMaxUnflushed messages go to a node before the client
//     flushes it on its own, which bounds the service's queue of unexpected messages.
//   - Reply tags are unique per client process, so concurrent calls (and threads)
//     never take each other's messages. Messages from one client to one service are
//     not overtaken (MPI's order on one communicator) and the service takes requests
//     one at a time, in order: a put followed by a get from the same rank reads what
//     was put.
//
// Idle cost. MPI has no blocking wait that does not spin, so the service probes and
// backs off: it yields the core between probes for 2 ms after the last request, then
// sleeps 50 us at a time until 20 ms, 1 ms at a time until 200 ms, then 3 ms at a time.
// An idle service costs 1-3% of one core here, and the first request after a quiet
// spell waits up to 3 ms.
//
// Failures. Every wait of a client (and of the service) polls and gives up after
// LAGOON_TIMEOUT without progress (mpi::set_patience): the client throws a TransportError
// naming the node, its host and ranks, and the op; the service, whose client is gone,
// ends the job. A failure detector thread beside each service pings the other leaders
// (Verb::ping, on its own tag) and ends the job when a node has been silent for 1.5 x
// LAGOON_TIMEOUT, whatever the ranks wait for.
//
// Lifetime. The transport starts, collectively, with the first object that needs it
// on a job of more than one node (transport_of), and registers its own clean-up with
// the Runtime: every rank flushes, all meet in a barrier, and each leader sends its
// own service a stop request.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "lagoon/error.hpp"
#include "lagoon/mpi.hpp"

namespace lagoon::detail {

class Context;

/// The transport's own verbs. What a request asks of its target is Header::op.
enum class Verb : std::uint32_t {
  call = 1,  ///< answered (Transport::answer) with an AnswerHead and a body
  post,      ///< one-way; a failure is reported by the client's next flush
  flush,     ///< answered once everything the client sent before is done
  stop,      ///< the service thread ends (sent by its own leader, at shutdown)
  batch,     ///< posts packed together: the args are each post's header, args and body
  ping,      ///< one-way, service to service: this node is alive (not dispatched)
};

/// The fixed part of every request.
struct Header {
  Verb verb = Verb::flush;
  std::uint32_t target = 0;      ///< the object (its id, the same on every rank) that serves it
  std::uint32_t op = 0;          ///< the target's own verb
  std::int32_t reply_tag = 0;    ///< the answer, and a body in pieces, travel on this tag
  std::uint32_t args_bytes = 0;  ///< the client's arguments, right after the header
  std::uint32_t reserved = 0;
  std::uint64_t body_bytes = 0;  ///< the body, after the args (inline) or in pieces
  /// A call whose client knows its answer's size: the body must be exactly this many
  /// bytes and comes on reply_tag + 1. kAnySize: the client learns it from the head.
  std::uint64_t answer_bytes = 0;
};

/// The first message of a call's answer.
struct AnswerHead {
  std::int32_t error = 0;  ///< 0, or the ErrorKind the target threw (the body is its message)
  std::uint32_t reserved = 0;
  std::uint64_t bytes = 0;  ///< of the body
};

/// What a client sends: whom it asks, what, with which arguments and bytes.
struct Ask {
  std::uint32_t target = 0;
  std::uint32_t op = 0;
  std::span<const std::byte> args;  ///< at most Transport::kMaxArgs bytes
  std::span<const std::byte> body;  ///< any size; sent straight from where it lies

  /// An ask whose args are one trivially copyable struct (`args` must outlive the ask).
  template <class Args>
    requires std::is_trivially_copyable_v<Args>
  static Ask with(std::uint32_t target, auto op, const Args& args, std::span<const std::byte> body = {}) {
    return {target, static_cast<std::uint32_t>(op), std::as_bytes(std::span<const Args, 1>(&args, 1)), body};
  }
};

class Transport;

/// What a request is about, for messages only: the object's description and, when known,
/// the op's name. They are joined ("GlobalArray<...>.get") only when a message is written,
/// so a call costs no string of its own.
struct What {
  What(std::string_view object, const char* op) : object(object), op(op) {}
  What(const std::string& object) : object(object) {}  // NOLINT: any description will do
  What(const char* object) : object(object) {}         // NOLINT
  [[nodiscard]] std::string str() const { return op ? std::string(object) + "." + op : std::string(object); }
  std::string_view object;
  const char* op = nullptr;
};

/// A request, as the service thread hands it to its target.
class Request {
 public:
  Header header;
  int source = -1;                       ///< the client's world rank
  std::span<const std::byte> args;       ///< as the client sent them
  std::span<const std::byte> body_here;  ///< the body, when it came with the header

  /// The args as the client's struct; throws TransportError if their size differs.
  template <class Args>
  [[nodiscard]] Args args_as() const;

 private:
  friend class Transport;
  mutable bool body_pending_ = false;  ///< received (or dropped) once, by the transport
  mutable bool answered_ = false;      ///< a call is answered once; a failure before answers it
};

/// Something that answers requests on its node's service thread (an object's state).
class Handler {
 public:
  virtual ~Handler() = default;
  /// Runs on the service thread. A call's target answers it with Transport::answer;
  /// throwing answers it with the error instead (a post's failure is counted for the
  /// client's next flush). A body not taken by receive_body is dropped afterwards.
  virtual void serve(const Request& request, Transport& transport) = 0;
};

class Transport {
 public:
  /// The most bytes of packed requests (headers, args, bodies) in one batch, and of a
  /// request or answer whose body travels with its header; LAGOON_MAX_MESSAGE_BYTES
  /// lowers it (inline_bytes_).
  static constexpr std::size_t kInlineBytes = 16 * 1024;
  /// The most bytes of a request's args.
  static constexpr std::size_t kMaxArgs = 1024;
  /// Messages a client sends to one node before it flushes that node by itself.
  static constexpr std::uint32_t kMaxUnflushed = 1024;
  /// Header::answer_bytes of a call whose answer's size only the target knows.
  static constexpr std::uint64_t kAnySize = UINT64_MAX;
  /// The most bytes of an error's answer (head and message) to a call of known size.
  static constexpr std::size_t kErrorBytes = 4096;

  /// Duplicates the world communicator and starts the service thread on node leaders.
  /// Throws InvalidArgument (on every rank) unless MPI runs with MPI_THREAD_MULTIPLE.
  /// @note collective over the world
  explicit Transport(Context& ctx);
  /// stop(), if it has not run.
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// Flushes, waits for every rank, stops the service and frees the communicator.
  /// A failure here ends the job (a service left running would hang it).
  /// @note collective over the world
  void stop() noexcept;

  /// Ids are assigned in collective order, so every rank names an object alike.
  void add(std::uint32_t id, Handler* handler);
  /// Unregisters a handler and returns once the service thread is not in it.
  void remove(std::uint32_t id) noexcept;

  // ---- client side (any rank, any thread) ----

  /// A call on its way: the answer's receives are posted; `finish` waits for them.
  class Pending {
   public:
    Pending() = default;
    Pending(Pending&&) noexcept = default;
    Pending& operator=(Pending&&) noexcept = default;

   private:
    friend class Transport;
    int node_ = -1;
    std::size_t pieces_ = 0;               ///< receives of the answer's body
    std::unique_ptr<std::byte[]> error_;   ///< where an error's head and message land
    mpi::Requests receives_;  ///< [0]: an error; then the body's pieces. What is left is cancelled.
  };
  /// Sends a call whose answer is exactly `answer.size()` bytes, received straight into
  /// `answer` (posted before the request goes out). `finish` completes it.
  [[nodiscard]] Pending start(int node, const Ask& ask, std::span<std::byte> answer);
  /// Waits for a started call's answer; throws what the target threw.
  void finish(Pending& pending, What what);
  /// A call answered into `answer`, which must be the answer's size.
  void call(int node, const Ask& ask, std::span<std::byte> answer, What what);
  /// A call whose answer has a size only the target knows, into a new buffer.
  [[nodiscard]] std::vector<std::byte> call(int node, const Ask& ask, What what);
  /// A one-way request: batched when small. Returns once `ask`'s bytes may be reused.
  void post(int node, const Ask& ask);
  /// Returns once every post this process sent has been carried out; throws the first
  /// failure's kind and message (TransportError for the transport's own) if any failed.
  void flush();

  // ---- service side (called by handlers) ----

  /// Answers a call: `body` goes out straight from where it lies.
  void answer(const Request& request, std::span<const std::byte> body) const;
  /// Receives a request's body straight into `into` (its size is header.body_bytes).
  void receive_body(const Request& request, std::span<std::byte> into) const;
  /// Receives a request's body piece by piece (at most 4 MiB each, so the service's
  /// scratch stays small), calling `consume(offset, piece)` for each.
  template <class F>
  void receive_body(const Request& request, F&& consume) const;

 private:
  struct Outbox {
    std::vector<std::byte> batch;  ///< packed posts, after room for the batch's header
    std::uint32_t unflushed = 0;   ///< messages sent since the node's last flush
  };

  [[nodiscard]] int service_rank(int node) const;
  /// `count` consecutive tags that no other request of this process uses now.
  [[nodiscard]] int next_tag(int count = 1) noexcept;
  /// The tag of a request body's pieces: in the upper half of the tags, apart from
  /// every answer. (A leader's service thread and its main thread share one process:
  /// the pieces another rank's client sends the service, and the answers another
  /// rank's service sends the main thread, come from the same source with tags drawn
  /// from two different counters.)
  [[nodiscard]] int body_tag(const Header& header) const noexcept;
  /// Sends a request's first message (header, args, and the body if it fits), then the
  /// body's pieces. Sends the node's batch first. Needs outbox_mutex_.
  void send_request(int node, Header header, const Ask& ask);
  /// Sends the node's batch, if it holds anything. Needs outbox_mutex_.
  void send_batch(int node, Outbox& box);
  /// Receives the head of a call's answer on `tag`; throws the target's error, or a
  /// TransportError for a malformed one. `first` keeps the message (an inline body).
  AnswerHead receive_head(int node, int tag, std::vector<std::byte>& first, What what) const;
  /// The head at the front of an answer's first message; throws the target's error.
  AnswerHead parse_head(int node, std::span<const std::byte> first, What what) const;
  /// Sends `node` a flush and returns what it answered, for several nodes at once.
  void flush_nodes(const std::vector<int>& nodes);

  /// Throws the TransportError of a request that timed out: `node` (or the node of
  /// the rank it waited for, when -1) named with its host and ranks, and `what`.
  [[noreturn]] void lost(const mpi::TimedOut& e, int node, What what) const;
  /// Runs `step` (a client-side exchange with `node`), turning a timeout into lost().
  template <class F>
  decltype(auto) guarded(int node, What what, F&& step) {
    try {
      return step();
    } catch (const mpi::TimedOut& e) {
      lost(e, node, what);
    }
  }

  /// "node 2 (host lagoon-h2, world ranks 4,5)", for messages.
  [[nodiscard]] std::string describe_node(int node) const;
  /// The failure detector, a thread beside the service on each node leader (so that a
  /// service busy with a long request still pings): pings every other node's leader a
  /// few times a LAGOON_TIMEOUT, and ends the job, naming the node, when one has not been
  /// heard from for LAGOON_TIMEOUT.
  void watch_loop() noexcept;

  void serve_loop() noexcept;
  void handle(std::vector<std::byte>& message, int source);
  /// Parses one request (header, args, inline body) at the front of `bytes`.
  [[nodiscard]] static bool parse(std::span<const std::byte>& bytes, Request& request, bool whole);
  /// Hands one request to its target; a failure goes back to the client.
  void dispatch(const Request& request);
  void record_failure(int source, ErrorKind kind, const std::string& what);
  [[nodiscard]] std::span<const std::byte> receive_piece(const Request& request, std::size_t bytes) const;

  Context& ctx_;
  mpi::Comm comm_;
  std::vector<std::string> hosts_;  ///< per node: its leader's host name, for messages
  std::size_t chunk_ = mpi::max_message_bytes;
  std::size_t inline_bytes_ = kInlineBytes;  ///< kInlineBytes, or the message limit if less
  std::size_t piece_ = 4u << 20;  ///< of a request's body
  mutable std::vector<std::byte> scratch_;  ///< service thread only
  int half_ = (32767 - 16 + 1) / 2;  ///< reply tags: [16, 16 + half_); body tags above
  std::atomic<std::uint32_t> tag_counter_{0};
  std::thread service_;
  bool stopped_ = false;
  std::thread watcher_;
  std::atomic<bool> watching_{false};

  std::mutex handlers_mutex_;
  std::map<std::uint32_t, Handler*> handlers_;
  std::mutex serving_mutex_;  ///< held by the service thread while a handler serves

  std::mutex outbox_mutex_;
  std::vector<Outbox> outboxes_;  ///< per node

  /// Service side: failed posts per client rank, reported by its next flush.
  struct Failures {
    std::uint64_t count = 0;
    ErrorKind kind = ErrorKind::transport;
    std::string first;
  };
  std::map<int, Failures> failures_;
};

/// The Runtime's transport, started by the first caller on a job of more than one
/// node; null on one node (nothing crosses a node there). @note collective the first time
[[nodiscard]] Transport* transport_of(Context& ctx);

template <class Args>
Args Request::args_as() const {
  static_assert(std::is_trivially_copyable_v<Args>);
  if (args.size() != sizeof(Args))
    throw TransportError("a request with " + std::to_string(args.size()) + " bytes of arguments, not " +
                         std::to_string(sizeof(Args)));
  Args out;
  std::memcpy(&out, args.data(), sizeof out);
  return out;
}

template <class F>
void Transport::receive_body(const Request& request, F&& consume) const {
  if (!request.body_pending_) {
    consume(std::size_t{0}, request.body_here);
    return;
  }
  request.body_pending_ = false;
  const std::size_t total = request.header.body_bytes;
  for (std::size_t done = 0; done < total; done += piece_) consume(done, receive_piece(request, std::min(piece_, total - done)));
}

}  // namespace lagoon::detail
