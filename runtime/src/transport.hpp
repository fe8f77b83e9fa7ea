// The cross-node transport: a service thread on every node leader that answers
// requests from other nodes while the node's ranks compute, and the client calls.
//
// Why a thread. A GlobalArray get (or an object fetch) must complete while the
// owning node's ranks are busy and make no MPI call. MPI one-sided access does not
// promise that here: with `--mca btl self,tcp` Open MPI 4.1 cannot create a world
// RMA window at all, and over UCX/TCP a passive-target MPI_Get waits until the
// target calls MPI again. Two-sided messages always work, so each node leader runs
// one service thread (MPI_THREAD_MULTIPLE) that receives requests and moves the
// bytes straight between the node's shared window and the wire.
//
// Protocol. Every message travels on the transport's own duplicate of the world
// communicator, so it never matches a user's message.
//   - A request is a Header (a batch: followed by its packed requests), sent with tag
//     kRequestTag to the leader of the owning node.
//   - Anything larger moves as separate messages of at most `chunk` bytes, tagged
//     with the request's reply tag: payload client -> service, replies service ->
//     client. Reply tags are unique per client process, so concurrent requests (and
//     threads) never steal each other's messages; the client posts its receives
//     before it sends the request, so the service's sends never wait on it.
//   - Messages from one client to one service are not overtaken (MPI's ordering on
//     one communicator) and the service handles them one at a time, in order: a put
//     followed by a get from the same rank reads what was put.
//   - put / accumulate are one-way: the client does not wait for the service.
//     Those whose header + payload fit kInlineBytes are packed, per node, into one
//     batch message, sent when it is full, before any other request to that node (so
//     order holds), and at flush: a stream of 8-byte accumulates costs a message per
//     ~400 of them, not one each. Larger ones send their header, then their payload.
//     `flush` (which fence() and destructors call) sends each node its batch and one
//     flush request, and waits for each node's answer, which comes after everything
//     the client sent before it. At most kMaxUnflushed messages go to a node before
//     the client flushes it on its own, which bounds the service's queue of
//     unexpected messages.
//   - A get the service cannot answer gets a zero-byte reply; a one-way request it
//     cannot carry out is counted and reported by the next flush.
//
// Idle cost. MPI has no blocking wait that does not spin, so the service probes
// (MPI_Improbe) and backs off: it polls for 50 us after the last request, yields the
// core between probes until 200 us, then sleeps 50 us at a time for 20 ms, then 1 ms
// at a time. An idle service costs 1-2% of one core here (a probe of the TCP
// transport is a system call), and the first request after a quiet spell waits at
// most about a millisecond.
//
// Lifetime. The transport starts, collectively, with the first object that needs it
// on a job of more than one node, and stops in Runtime shutdown before any window is
// freed: every rank flushes, all meet in a barrier, and each leader sends its own
// service a stop request.
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "lagoon/mpi.hpp"

namespace lagoon::detail {

class Context;

/// What a request asks. The transport handles flush and stop; the rest belong to
/// the handler named by Header::target.
enum class Op : std::uint32_t {
  flush = 1,
  stop = 2,
  batch = 3,   ///< payload: one-way requests, each a Header and its payload
  get = 16,    ///< reply: `bytes` bytes from `offset`
  put,         ///< payload: `bytes` bytes to write at `offset`; one-way
  accumulate,  ///< payload: `bytes` bytes to add (element kind `kind`) at `offset`; one-way
  call = 32,   ///< payload of `bytes` bytes; answered (Transport::answer) with a status and a body
               ///< of a size the client learns from the answer; `kind` is the handler's own request
  post,        ///< payload of `bytes` bytes; one-way; `kind` is the handler's own request
};

/// The first message of a call's answer: a status, then the body's size. The body
/// follows in the same message when it fits kInlineBytes, else in pieces.
struct AnswerHead {
  std::int32_t error = 0;  ///< 0, or the ErrorKind the service's handler threw (the body is its message)
  std::uint32_t reserved = 0;
  std::uint64_t bytes = 0;  ///< of the body
};

/// The fixed part of every request.
struct Header {
  Op op = Op::flush;
  std::uint32_t target = 0;  ///< the handler (a GlobalArray, a store) on the owning node
  std::int32_t reply_tag = 0;
  std::uint32_t kind = 0;    ///< op-specific (the element type of an accumulate)
  std::uint64_t offset = 0;  ///< op-specific (a byte offset in the node's block)
  std::uint64_t bytes = 0;   ///< payload or reply bytes
  /// A call whose client knows its answer's size: the body comes on reply_tag + 1, into
  /// receives posted before the request went out, and must be exactly this many bytes
  /// (UINT64_MAX: the client does not know; the body follows the head on reply_tag).
  std::uint64_t answer_bytes = UINT64_MAX;
};

class Transport;

/// A request, as the service thread hands it to a handler.
struct Request {
  Header header;
  std::span<const std::byte> inline_payload;  ///< the payload, when it came with the header
  int source = -1;                            ///< the client's world rank
  /// A payload that follows in chunks and is not yet received. A handler takes it with
  /// Transport::receive_payload (after it has checked the request); if it does not,
  /// the transport receives and drops it, so the client never waits forever.
  mutable bool payload_pending = false;
  /// A call has been answered (each call is answered once; a failure before answers it).
  mutable bool answered = false;
};

/// Something that answers requests on its owning node's service thread.
class Handler {
 public:
  virtual ~Handler() = default;
  /// Runs on the service thread. Throwing makes a get reply empty and counts a failed
  /// one-way request; the message names what failed.
  virtual void serve(const Request& request, Transport& transport) = 0;
};

class Transport {
 public:
  /// The most bytes of packed one-way requests (headers + payloads) in one batch.
  static constexpr std::size_t kInlineBytes = 16 * 1024;
  /// Messages a client sends to one node before it flushes that node by itself.
  static constexpr std::uint32_t kMaxUnflushed = 1024;

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

  /// Handler ids are assigned in collective order, so every rank names an object alike.
  void add(std::uint32_t id, Handler* handler);
  /// Unregisters a handler and returns once the service thread is not in it (a serve
  /// may still be unpinning after its answer reached the client).
  void remove(std::uint32_t id) noexcept;

  // ---- client side (any rank, any thread) ----
  /// A tag no other request of this process uses now.
  [[nodiscard]] int next_tag(int count = 1) noexcept;
  /// Receives for a `get`'s reply, posted before the request goes out.
  struct Reply {
    std::vector<MPI_Request> requests;
    int node = -1;
    std::string_view what;  ///< names the object in an error message; must outlive the reply
  };
  /// Posts the receives of a reply of `into.size()` bytes from `node`, then sends `header`.
  void start_get(int node, Header header, std::span<std::byte> into, Reply& reply, std::string_view what);
  /// Waits for the reply; throws Error if the service could not answer.
  void finish_get(Reply& reply);
  /// Sends a one-way request with its payload (inline, or in chunks).
  void send_one_way(int node, Header header, std::span<const std::byte> payload);
  /// A round trip whose answer has a size only the service knows: sends `header` (op
  /// `call`) with `payload`, then receives the answer's body into `into(bytes)`, a
  /// span of exactly `bytes` bytes that `into` provides (a window, the arena). Throws,
  /// as its own Error subclass, what the service's handler threw.
  template <class Into>
  void call(int node, Header header, std::span<const std::byte> payload, Into&& into, std::string_view what);
  /// A `call` whose answer's size the client knows: the body's receives into `body`
  /// are posted before the request goes out (as for `get`), so the body moves straight
  /// into place at full speed. An answer of another size is an Error.
  void call_into(int node, Header header, std::span<const std::byte> payload, std::span<std::byte> body,
                 std::string_view what);
  /// `call`, answered into a new buffer.
  std::vector<std::byte> call(int node, Header header, std::span<const std::byte> payload, std::string_view what);
  /// Returns once every one-way request this process sent has been carried out;
  /// throws Error naming what failed on the services, if anything did.
  void flush();

  // ---- service side (called by handlers) ----
  /// Sends a get's reply: `data`, in messages of at most LAGOON_MAX_MESSAGE_BYTES.
  void reply(const Request& request, std::span<const std::byte> data) const;
  /// Answers a `call`: a status word, then `body` (inline, or in messages of at most
  /// LAGOON_MAX_MESSAGE_BYTES, straight from where it lies).
  void answer(const Request& request, std::span<const std::byte> body) const;
  /// Receives a request's payload straight into `into` (its size is header.bytes).
  void receive_payload(const Request& request, std::span<std::byte> into) const;
  /// Receives a request's payload piece by piece (at most 4 MiB each, so a service's
  /// scratch stays small) into a scratch buffer, calling `consume(offset, piece)` for each.
  template <class F>
  void receive_payload(const Request& request, F&& consume) const;

  /// World rank of the service thread serving node `node`.
  [[nodiscard]] int service_rank(int node) const;

 private:
  void serve_loop() noexcept;
  void handle(std::vector<std::byte>& message, int source);
  /// Hands one request to its handler; a failure goes to the client (see Handler).
  void dispatch(Request& request);
  /// Counts a failed one-way request of client `source`, for its next flush.
  void record_failure(int source, const std::string& what);
  /// MPI_Send of `data` in messages of at most `piece` bytes.
  void send_pieces(std::span<const std::byte> data, std::size_t piece, int dest, int tag) const;
  void flush_nodes(const std::vector<int>& nodes);
  /// Sends a call's request; receives its answer's first message, throws the
  /// service's error if it sent one, and returns the head and the inline body.
  void send_call(int node, Header& header, std::span<const std::byte> payload);
  /// Receives a call's first message; returns the head, or throws the service's error.
  AnswerHead receive_head(int node, const Header& header, std::vector<std::byte>& first, std::string_view what);
  AnswerHead start_call(int node, Header& header, std::span<const std::byte> payload, std::vector<std::byte>& first,
                        std::string_view what);
  /// Receives the `bytes` bytes of an answer's body that did not fit its first message,
  /// into `into` (or, when `into` is empty, drops them).
  void receive_body(int node, int tag, std::span<std::byte> into, std::size_t bytes);

  /// What a client holds for one node: the batch being packed, and the messages sent
  /// since the node's last flush.
  struct Outbox {
    std::vector<std::byte> batch;
    std::uint32_t unflushed = 0;
  };
  /// Sends the node's batch, if it holds anything. Needs outbox_mutex_.
  void send_batch(int node, Outbox& box);
  /// Receives the next payload piece of `request` into the scratch buffer.
  std::span<const std::byte> receive_piece(const Request& request, std::size_t bytes) const;

  Context& ctx_;
  mpi::Comm comm_;
  std::size_t chunk_ = mpi::max_message_bytes;
  std::size_t payload_chunk_ = 4u << 20;
  mutable std::vector<std::byte> scratch_;  ///< service thread only
  int tag_ub_ = 32767;
  std::atomic<std::uint32_t> tag_counter_{0};
  std::thread service_;
  bool stopped_ = false;

  std::mutex handlers_mutex_;
  std::map<std::uint32_t, Handler*> handlers_;
  std::mutex serving_mutex_;  ///< held by the service thread while a handler serves

  std::mutex outbox_mutex_;
  std::vector<Outbox> outboxes_;  ///< per node

  /// Service side: failed one-way requests per client rank, reported by its next flush.
  struct Failures {
    std::uint64_t count = 0;
    std::string first;
  };
  std::map<int, Failures> failures_;
};

/// Gives `handler` the next object id (the same on every rank) and, on a job of
/// several nodes, registers it with the transport, then waits for every rank, so that
/// no request reaches a node before that node can answer it. Returns the transport
/// (null on one node). @note collective over the world
Transport* serve_object(Context& ctx, Handler& handler, std::uint32_t& id);

/// The end of an object served by the transport: waits until no rank has a request for
/// it in flight (flush, barrier), then unregisters it. Failures are reported on stderr
/// (this runs in destructors). @note collective over the world
void stop_serving(Context& ctx, Transport* transport, std::uint32_t id, const std::string& what) noexcept;

template <class Into>
void Transport::call(int node, Header header, std::span<const std::byte> payload, Into&& into,
                     std::string_view what) {
  std::vector<std::byte> first;
  const AnswerHead head = start_call(node, header, payload, first, what);
  const auto bytes = static_cast<std::size_t>(head.bytes);
  const bool inline_body = first.size() > sizeof head;
  std::span<std::byte> body;
  try {
    body = into(bytes);
  } catch (...) {
    if (!inline_body) receive_body(node, header.reply_tag, {}, bytes);  // the service must not wait on us
    throw;
  }
  if (inline_body) {
    std::memcpy(body.data(), first.data() + sizeof head, bytes);
  } else {
    receive_body(node, header.reply_tag, body, bytes);
  }
}

template <class F>
void Transport::receive_payload(const Request& request, F&& consume) const {
  if (!request.payload_pending) {
    consume(std::size_t{0}, request.inline_payload);
    return;
  }
  request.payload_pending = false;
  const std::size_t total = request.header.bytes;
  for (std::size_t done = 0; done < total; done += payload_chunk_) {
    const auto piece = receive_piece(request, std::min(payload_chunk_, total - done));
    consume(done, piece);
  }
}

}  // namespace lagoon::detail
