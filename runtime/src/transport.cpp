// The cross-node transport: the service thread's loop (probe, back off, dispatch)
// and the client side of get, one-way requests and flush. Design: transport.hpp.
#include "transport.hpp"

#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

#include "context.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/error.hpp"

namespace lagoon::detail {
namespace {

constexpr int kRequestTag = 1;
constexpr int kFirstReplyTag = 16;

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// The service's wait when no request came: yield while requests are frequent, then
/// sleep, longer as the quiet lasts (MPI offers no blocking wait that does not spin).
void back_off(Clock::duration quiet) {
  if (quiet < 50us)
    return;  // a request stream: the next one is microseconds away
  if (quiet < 200us)
    sched_yield();
  else if (quiet < 20ms)
    std::this_thread::sleep_for(50us);
  else
    std::this_thread::sleep_for(1ms);
}

/// A failure on the service thread that must not be swallowed: end the job.
[[noreturn]] void abort_from_service(MPI_Comm comm, const char* what) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "lagoon: the transport service on world rank %d failed (%s); calling MPI_Abort\n", rank, what);
  std::fflush(stderr);
  MPI_Abort(comm, 1);
  std::abort();
}

}  // namespace

Transport::Transport(Context& ctx) : ctx_(ctx) {
  agree(ctx.world, [] {
    int provided = MPI_THREAD_SINGLE;
    mpi::check(MPI_Query_thread(&provided), "MPI_Query_thread");
    if (provided < MPI_THREAD_MULTIPLE)
      throw InvalidArgument(
          "lagoon: objects spread over several nodes need MPI_THREAD_MULTIPLE (each node leader runs a service "
          "thread), but MPI was initialized with a lower thread level: initialize MPI with MPI_Init_thread(..., "
          "MPI_THREAD_MULTIPLE, ...) or let lagoon::Runtime(argc, argv) do it" + on_rank());
  });
  comm_ = mpi::Comm::duplicate(ctx.world);
  chunk_ = ctx.settings.max_message_bytes;
  // Whole elements in every payload piece (accumulate adds them piece by piece).
  payload_chunk_ = std::max<std::size_t>(std::min<std::size_t>(chunk_, 4u << 20) / 8 * 8, 8);
  void* value = nullptr;
  int found = 0;
  mpi::check(MPI_Comm_get_attr(comm_, MPI_TAG_UB, &value, &found), "MPI_Comm_get_attr");
  if (found) tag_ub_ = *static_cast<int*>(value);
  outboxes_.resize(static_cast<std::size_t>(ctx.node_count));
  if (ctx.node.rank() == 0) service_ = std::thread([this] { serve_loop(); });
}

Transport::~Transport() { stop(); }

void Transport::stop() noexcept {
  if (stopped_) return;
  stopped_ = true;
  try {
    try {
      flush();
    } catch (const Error& e) {
      // One-way requests that failed and nobody fenced: say so, the job goes on ending.
      std::fprintf(stderr, "lagoon: at shutdown: %s\n", e.what());
    }
    comm_.barrier();  // after this no rank sends another request
    if (service_.joinable()) {
      const Header stop{Op::stop};
      mpi::check(MPI_Send(&stop, sizeof stop, MPI_BYTE, comm_.rank(), kRequestTag, comm_), "MPI_Send");
      service_.join();
    }
    comm_.free();
  } catch (const std::exception& e) {
    abort_from_service(MPI_COMM_WORLD, e.what());
  }
}

Transport* serve_object(Context& ctx, Handler& handler, std::uint32_t& id) {
  Transport* transport = ctx.transport();
  id = ctx.next_object_id();
  if (transport) {
    transport->add(id, &handler);
    ctx.world.barrier();  // no rank sends a request before every node can answer it
  }
  return transport;
}

void stop_serving(Context& ctx, Transport* transport, std::uint32_t id, const std::string& what) noexcept {
  if (!transport || ctx.finalized()) return;
  try {
    transport->flush();     // this rank's one-way requests are carried out
    ctx.world.barrier();    // ... and every rank's: nothing for this object is in flight
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lagoon: %s at destruction: %s\n", what.c_str(), e.what());
  }
  transport->remove(id);  // returns once the service is not in the handler
}

void Transport::add(std::uint32_t id, Handler* handler) {
  const std::lock_guard lock(handlers_mutex_);
  handlers_[id] = handler;
}

void Transport::remove(std::uint32_t id) noexcept {
  {
    const std::lock_guard lock(handlers_mutex_);
    handlers_.erase(id);
  }
  const std::lock_guard wait(serving_mutex_);
}

int Transport::service_rank(int node) const { return ctx_.leader_of_node.at(static_cast<std::size_t>(node)); }

int Transport::next_tag(int count) noexcept {
  // `count` consecutive tags; a run that would pass the upper bound starts over at the first.
  const auto span = static_cast<std::uint32_t>(tag_ub_ - kFirstReplyTag);
  const auto value = tag_counter_.fetch_add(static_cast<std::uint32_t>(count), std::memory_order_relaxed) % span;
  const int tag = kFirstReplyTag + static_cast<int>(value);
  return tag > tag_ub_ - (count - 1) ? kFirstReplyTag : tag;
}

// ---- client side ----

void Transport::start_get(int node, Header header, std::span<std::byte> into, Reply& reply, std::string_view what) {
  header.op = Op::get;
  header.bytes = into.size();
  header.reply_tag = next_tag();
  reply.node = node;
  reply.what = what;
  const int service = service_rank(node);
  {
    const std::lock_guard lock(outbox_mutex_);  // one-way requests sent before stay before
    send_batch(node, outboxes_[static_cast<std::size_t>(node)]);
  }
  for (std::size_t done = 0; done < into.size(); done += chunk_) {
    const auto n = static_cast<int>(std::min(chunk_, into.size() - done));
    reply.requests.push_back(MPI_REQUEST_NULL);
    mpi::check(MPI_Irecv(into.data() + done, n, MPI_BYTE, service, header.reply_tag, comm_, &reply.requests.back()),
               "MPI_Irecv");
  }
  mpi::check(MPI_Send(&header, sizeof header, MPI_BYTE, service, kRequestTag, comm_), "MPI_Send");
}

void Transport::finish_get(Reply& reply) {
  if (reply.requests.empty()) return;
  MPI_Status status;
  mpi::check(MPI_Wait(&reply.requests.front(), &status), "MPI_Wait");
  int count = 0;
  mpi::check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  if (count == 0) {
    // The service could not answer: the other receives will never match.
    for (std::size_t i = 1; i < reply.requests.size(); ++i) {
      MPI_Cancel(&reply.requests[i]);
      MPI_Wait(&reply.requests[i], MPI_STATUS_IGNORE);
    }
    reply.requests.clear();
    throw Error(std::string(reply.what) + ".get: node " + std::to_string(reply.node) +
                " could not answer (the object is not registered there: was it destroyed?)" + on_rank());
  }
  mpi::check(MPI_Waitall(static_cast<int>(reply.requests.size() - 1), reply.requests.data() + 1, MPI_STATUSES_IGNORE),
             "MPI_Waitall");
  reply.requests.clear();
}

void Transport::send_batch(int node, Outbox& box) {
  if (box.batch.empty()) return;
  Header header{Op::batch};
  header.bytes = box.batch.size() - sizeof header;
  std::memcpy(box.batch.data(), &header, sizeof header);
  mpi::check(MPI_Send(box.batch.data(), static_cast<int>(box.batch.size()), MPI_BYTE, service_rank(node), kRequestTag,
                      comm_),
             "MPI_Send");
  box.batch.clear();
  ++box.unflushed;
}

void Transport::send_one_way(int node, Header header, std::span<const std::byte> payload) {
  header.bytes = payload.size();
  header.reply_tag = next_tag();
  bool full = false;
  {
    const std::lock_guard lock(outbox_mutex_);
    Outbox& box = outboxes_[static_cast<std::size_t>(node)];
    const std::size_t item = sizeof header + payload.size();
    if (item <= kInlineBytes) {
      if (box.batch.size() + item > sizeof(Header) + kInlineBytes) send_batch(node, box);
      if (box.batch.empty()) box.batch.resize(sizeof(Header));  // the batch's own header, written when sent
      const std::size_t at = box.batch.size();
      box.batch.resize(at + item);
      std::memcpy(box.batch.data() + at, &header, sizeof header);
      if (!payload.empty()) std::memcpy(box.batch.data() + at + sizeof header, payload.data(), payload.size());
    } else {
      send_batch(node, box);
      const int service = service_rank(node);
      mpi::check(MPI_Send(&header, sizeof header, MPI_BYTE, service, kRequestTag, comm_), "MPI_Send");
      send_pieces(payload, payload_chunk_, service, header.reply_tag);
      ++box.unflushed;
    }
    full = box.unflushed >= kMaxUnflushed;
    if (full) box.unflushed = 0;
  }
  if (full) flush_nodes({node});
}

void Transport::send_call(int node, Header& header, std::span<const std::byte> payload) {
  header.op = Op::call;
  header.bytes = payload.size();
  const int service = service_rank(node);
  const std::lock_guard lock(outbox_mutex_);  // one-way requests sent before stay before
  send_batch(node, outboxes_[static_cast<std::size_t>(node)]);
  if (sizeof header + payload.size() <= kInlineBytes) {
    std::vector<std::byte> message(sizeof header + payload.size());
    std::memcpy(message.data(), &header, sizeof header);
    if (!payload.empty()) std::memcpy(message.data() + sizeof header, payload.data(), payload.size());
    mpi::check(MPI_Send(message.data(), static_cast<int>(message.size()), MPI_BYTE, service, kRequestTag, comm_),
               "MPI_Send");
  } else {
    mpi::check(MPI_Send(&header, sizeof header, MPI_BYTE, service, kRequestTag, comm_), "MPI_Send");
    send_pieces(payload, payload_chunk_, service, header.reply_tag);
  }
}

AnswerHead Transport::receive_head(int node, const Header& header, std::vector<std::byte>& first,
                                   std::string_view what) {
  MPI_Message message;
  MPI_Status status;
  mpi::check(MPI_Mprobe(service_rank(node), header.reply_tag, comm_, &message, &status), "MPI_Mprobe");
  int count = 0;
  mpi::check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  first.resize(static_cast<std::size_t>(count));
  mpi::check(MPI_Mrecv(first.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  AnswerHead head;
  if (first.size() < sizeof head)
    throw Error(std::string(what) + ": node " + std::to_string(node) + " sent a malformed answer" + on_rank());
  std::memcpy(&head, first.data(), sizeof head);
  if (head.error != 0) {
    const std::string message_text(reinterpret_cast<const char*>(first.data()) + sizeof head,
                                   first.size() - sizeof head);
    throw_error(static_cast<ErrorKind>(head.error), message_text);
  }
  if (first.size() > sizeof head && first.size() - sizeof head != head.bytes)
    throw Error(std::string(what) + ": node " + std::to_string(node) + " sent a malformed answer" + on_rank());
  return head;
}

AnswerHead Transport::start_call(int node, Header& header, std::span<const std::byte> payload,
                                 std::vector<std::byte>& first, std::string_view what) {
  header.reply_tag = next_tag();
  header.answer_bytes = UINT64_MAX;
  send_call(node, header, payload);
  return receive_head(node, header, first, what);
}

void Transport::call_into(int node, Header header, std::span<const std::byte> payload, std::span<std::byte> body,
                          std::string_view what) {
  header.reply_tag = next_tag(2);
  header.answer_bytes = body.size();
  const int service = service_rank(node);
  std::vector<MPI_Request> requests;
  for (std::size_t done = 0; done < body.size(); done += chunk_) {
    const auto n = static_cast<int>(std::min(chunk_, body.size() - done));
    requests.push_back(MPI_REQUEST_NULL);
    mpi::check(MPI_Irecv(body.data() + done, n, MPI_BYTE, service, header.reply_tag + 1, comm_, &requests.back()),
               "MPI_Irecv");
  }
  try {
    send_call(node, header, payload);
    std::vector<std::byte> first;
    (void)receive_head(node, header, first, what);
  } catch (...) {
    // No body comes after an error: the posted receives will never match.
    for (auto& r : requests) {
      MPI_Cancel(&r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
    throw;
  }
  mpi::check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
}

void Transport::receive_body(int node, int tag, std::span<std::byte> into, std::size_t bytes) {
  const int service = service_rank(node);
  std::vector<MPI_Request> requests;
  std::vector<std::byte> dropped;
  if (into.empty() && bytes > 0) dropped.resize(std::min(chunk_, bytes));
  for (std::size_t done = 0; done < bytes; done += chunk_) {
    const auto n = static_cast<int>(std::min(chunk_, bytes - done));
    if (into.empty()) {
      mpi::check(MPI_Recv(dropped.data(), n, MPI_BYTE, service, tag, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
      continue;
    }
    requests.push_back(MPI_REQUEST_NULL);
    mpi::check(MPI_Irecv(into.data() + done, n, MPI_BYTE, service, tag, comm_, &requests.back()), "MPI_Irecv");
  }
  mpi::check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
}

std::vector<std::byte> Transport::call(int node, Header header, std::span<const std::byte> payload,
                                       std::string_view what) {
  std::vector<std::byte> body;
  call(node, header, payload,
       [&](std::size_t bytes) {
         body.resize(bytes);
         return std::span<std::byte>(body);
       },
       what);
  return body;
}

void Transport::flush() {
  std::vector<int> nodes;
  {
    const std::lock_guard lock(outbox_mutex_);
    for (std::size_t n = 0; n < outboxes_.size(); ++n) {
      send_batch(static_cast<int>(n), outboxes_[n]);
      if (std::exchange(outboxes_[n].unflushed, 0) > 0) nodes.push_back(static_cast<int>(n));
    }
  }
  flush_nodes(nodes);
}

void Transport::flush_nodes(const std::vector<int>& nodes) {
  std::vector<int> tags;
  for (int node : nodes) {
    Header header{Op::flush};
    header.reply_tag = next_tag();
    tags.push_back(header.reply_tag);
    mpi::check(MPI_Send(&header, sizeof header, MPI_BYTE, service_rank(node), kRequestTag, comm_), "MPI_Send");
  }
  std::string failed;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    MPI_Message message;
    MPI_Status status;
    mpi::check(MPI_Mprobe(service_rank(nodes[i]), tags[i], comm_, &message, &status), "MPI_Mprobe");
    int count = 0;
    mpi::check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    std::vector<char> answer(static_cast<std::size_t>(count));
    mpi::check(MPI_Mrecv(answer.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
    std::uint64_t failures = 0;
    if (answer.size() >= sizeof failures) std::memcpy(&failures, answer.data(), sizeof failures);
    if (failures > 0)
      failed += "; node " + std::to_string(nodes[i]) + ": " + std::to_string(failures) + " failed, the first: " +
                std::string(answer.begin() + sizeof failures, answer.end());
  }
  if (!failed.empty()) throw Error("lagoon: one-way requests (put/accumulate) failed" + failed + on_rank());
}

// ---- service side ----

void Transport::send_pieces(std::span<const std::byte> data, std::size_t piece, int dest, int tag) const {
  for (std::size_t done = 0; done < data.size(); done += piece) {
    const auto n = static_cast<int>(std::min(piece, data.size() - done));
    mpi::check(MPI_Send(data.data() + done, n, MPI_BYTE, dest, tag, comm_), "MPI_Send");
  }
}

void Transport::reply(const Request& request, std::span<const std::byte> data) const {
  send_pieces(data, chunk_, request.source, request.header.reply_tag);
}

void Transport::answer(const Request& request, std::span<const std::byte> body) const {
  const Header& h = request.header;
  if (h.answer_bytes != UINT64_MAX && h.answer_bytes != body.size())
    throw Error("an answer of " + std::to_string(body.size()) + " bytes to a client that expects " +
                std::to_string(h.answer_bytes) + on_rank());
  request.answered = true;
  AnswerHead head;
  head.bytes = body.size();
  const int dest = request.source;
  const int tag = h.reply_tag;
  if (h.answer_bytes != UINT64_MAX) {
    // The client has posted its receives for the body on the next tag.
    mpi::check(MPI_Send(&head, sizeof head, MPI_BYTE, dest, tag, comm_), "MPI_Send");
    send_pieces(body, chunk_, dest, tag + 1);
    return;
  }
  if (sizeof head + body.size() <= kInlineBytes) {
    std::vector<std::byte> message(sizeof head + body.size());
    std::memcpy(message.data(), &head, sizeof head);
    if (!body.empty()) std::memcpy(message.data() + sizeof head, body.data(), body.size());
    mpi::check(MPI_Send(message.data(), static_cast<int>(message.size()), MPI_BYTE, dest, tag, comm_), "MPI_Send");
    return;
  }
  mpi::check(MPI_Send(&head, sizeof head, MPI_BYTE, dest, tag, comm_), "MPI_Send");
  send_pieces(body, chunk_, dest, tag);
}

void Transport::receive_payload(const Request& request, std::span<std::byte> into) const {
  if (!request.payload_pending) {
    std::memcpy(into.data(), request.inline_payload.data(), std::min(into.size(), request.inline_payload.size()));
    return;
  }
  request.payload_pending = false;
  for (std::size_t done = 0; done < into.size(); done += payload_chunk_) {
    const auto n = static_cast<int>(std::min(payload_chunk_, into.size() - done));
    mpi::check(MPI_Recv(into.data() + done, n, MPI_BYTE, request.source, request.header.reply_tag, comm_,
                        MPI_STATUS_IGNORE),
               "MPI_Recv");
  }
}

std::span<const std::byte> Transport::receive_piece(const Request& request, std::size_t bytes) const {
  if (scratch_.size() < bytes) scratch_.resize(bytes);
  mpi::check(MPI_Recv(scratch_.data(), static_cast<int>(bytes), MPI_BYTE, request.source, request.header.reply_tag,
                      comm_, MPI_STATUS_IGNORE),
             "MPI_Recv");
  return {scratch_.data(), bytes};
}

void Transport::serve_loop() noexcept {
  std::vector<std::byte> message;
  auto last = Clock::now();
  try {
    for (;;) {
      int arrived = 0;
      MPI_Message probed;
      MPI_Status status;
      mpi::check(MPI_Improbe(MPI_ANY_SOURCE, kRequestTag, comm_, &arrived, &probed, &status), "MPI_Improbe");
      if (!arrived) {
        back_off(Clock::now() - last);
        continue;
      }
      int count = 0;
      mpi::check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
      message.resize(static_cast<std::size_t>(count));
      mpi::check(MPI_Mrecv(message.data(), count, MPI_BYTE, &probed, &status), "MPI_Mrecv");
      if (message.size() >= sizeof(Header) && reinterpret_cast<const Header*>(message.data())->op == Op::stop) return;
      handle(message, status.MPI_SOURCE);
      last = Clock::now();
    }
  } catch (const std::exception& e) {
    abort_from_service(comm_, e.what());
  }
}

void Transport::handle(std::vector<std::byte>& message, int source) {
  Request request;
  if (message.size() < sizeof(Header)) {
    record_failure(source, "a message too short to be a request");  // nothing to answer
    return;
  }
  std::memcpy(&request.header, message.data(), sizeof(Header));
  request.source = source;
  const Header& h = request.header;
  request.inline_payload = std::span<const std::byte>(message).subspan(sizeof(Header));
  // A one-way request whose header came alone: its payload follows in pieces.
  request.payload_pending = h.op != Op::get && h.bytes > request.inline_payload.size();

  if (h.op == Op::flush) {
    // Everything this client sent before the flush is done: publish the writes, answer.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    Failures f;
    if (auto it = failures_.find(source); it != failures_.end()) {
      f = std::move(it->second);
      failures_.erase(it);
    }
    std::vector<char> answer(sizeof f.count + f.first.size());
    std::memcpy(answer.data(), &f.count, sizeof f.count);
    std::memcpy(answer.data() + sizeof f.count, f.first.data(), f.first.size());
    mpi::check(MPI_Send(answer.data(), static_cast<int>(answer.size()), MPI_BYTE, source, h.reply_tag, comm_),
               "MPI_Send");
    return;
  }

  if (h.op == Op::batch) {
    // One-way requests packed by a client: each with its payload inline.
    auto rest = request.inline_payload;
    while (rest.size() >= sizeof(Header)) {
      Request item;
      std::memcpy(&item.header, rest.data(), sizeof(Header));
      item.source = source;
      const std::size_t bytes = std::min<std::size_t>(item.header.bytes, rest.size() - sizeof(Header));
      item.inline_payload = rest.subspan(sizeof(Header), bytes);
      if (bytes != item.header.bytes || item.header.op == Op::get || item.header.op == Op::batch ||
          item.header.op == Op::call) {
        record_failure(source, "a malformed batch of requests");  // stop reading it
        return;
      }
      dispatch(item);
      rest = rest.subspan(sizeof(Header) + bytes);
    }
    return;
  }
  dispatch(request);
}

void Transport::record_failure(int source, const std::string& what) {
  Failures& f = failures_[source];
  if (f.count++ == 0) f.first = what;
}

void Transport::dispatch(Request& request) {
  const Header& h = request.header;
  const int source = request.source;
  try {
    const std::lock_guard serving(serving_mutex_);  // remove() waits for the serve to end
    Handler* handler = nullptr;
    {
      const std::lock_guard lock(handlers_mutex_);
      if (auto it = handlers_.find(h.target); it != handlers_.end()) handler = it->second;
    }
    if (handler == nullptr)
      throw Error("no object #" + std::to_string(h.target) + " on node " + std::to_string(ctx_.node_index) +
                  " (destroyed?)");
    handler->serve(request, *this);
  } catch (const MpiError&) {
    throw;  // the transport itself is broken: fail-stop
  } catch (const std::exception& e) {
    if (h.op == Op::get) {
      mpi::check(MPI_Send(nullptr, 0, MPI_BYTE, source, h.reply_tag, comm_), "MPI_Send");
    } else if (h.op == Op::call && !request.answered) {
      // The client waits for an answer: the error, as its kind and message.
      const auto* error = dynamic_cast<const Error*>(&e);
      AnswerHead head;
      head.error = static_cast<std::int32_t>(error ? error->kind() : ErrorKind::generic);
      const std::string text = e.what();
      head.bytes = text.size();
      std::vector<char> message(sizeof head + text.size());
      std::memcpy(message.data(), &head, sizeof head);
      std::memcpy(message.data() + sizeof head, text.data(), text.size());
      mpi::check(MPI_Send(message.data(), static_cast<int>(message.size()), MPI_BYTE, source, h.reply_tag, comm_),
                 "MPI_Send");
    } else {
      record_failure(source, e.what());
    }
  }
  if (request.payload_pending) {  // refused before its payload was taken: drop it
    receive_payload(request, [](std::size_t, std::span<const std::byte>) {});
  }
}

}  // namespace lagoon::detail
