// The cross-node transport: the client side of call, post and flush, and the
// service thread's loop (probe, back off, dispatch). Design: transport.hpp.
#include "transport.hpp"

#include <sched.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <exception>

#include "context.hpp"
#include "lagoon/detail/agree.hpp"

namespace lagoon::detail {
namespace {

constexpr int kRequestTag = 1;
constexpr int kPingTag = 2;  ///< the failure detector's pings, leader to leader
constexpr int kFirstReplyTag = 16;

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// The service's wait when no request came: while requests are frequent, poll, yielding
/// the core at each turn (under mpirun's binding the service shares its rank's core,
/// and a rank that waits for a task or a result needs it as much: a pure spin would
/// hold it for a scheduler tick), then sleep, longer as the quiet lasts (MPI offers no
/// blocking wait that does not spin).
void back_off(Clock::duration quiet) {
  if (quiet < 2ms)
    sched_yield();
  else if (quiet < 20ms)
    std::this_thread::sleep_for(50us);
  else if (quiet < 200ms)
    std::this_thread::sleep_for(1ms);
  else
    std::this_thread::sleep_for(3ms);  // a wake-up costs this VM ~30 us: 1% of a core
}

/// What a flush answers: how many posts of the client failed, and the first's kind
/// (its message follows).
struct FlushReport {
  std::uint64_t failed = 0;
  std::int32_t kind = 0;
  std::uint32_t reserved = 0;
};

/// Appends `parts` (any number of byte spans) to `out`.
void append(std::vector<std::byte>& out, std::initializer_list<std::span<const std::byte>> parts) {
  for (auto part : parts)
    if (!part.empty()) out.insert(out.end(), part.begin(), part.end());
}

template <class T>
std::span<const std::byte> bytes_of(const T& value) {
  return std::as_bytes(std::span<const T, 1>(&value, 1));
}

const char kTransportSlot = 0;  ///< its address keys the transport in the Runtime's slots

}  // namespace

Transport* transport_of(Context& ctx) {
  ctx.check_alive("lagoon's transport");
  if (ctx.node_count == 1) return nullptr;
  auto& slot = ctx.slot(&kTransportSlot);
  if (!slot) {
    auto transport = std::make_shared<Transport>(ctx);
    slot = transport;
    (void)ctx.at_shutdown([t = transport.get()] { t->stop(); });
  }
  return static_cast<Transport*>(slot.get());
}

Transport::Transport(Context& ctx) : ctx_(ctx) {
  agree(ctx.world, [] {
    if (mpi::thread_level() < MPI_THREAD_MULTIPLE)
      throw InvalidArgument(
          "lagoon: objects spread over several nodes need MPI_THREAD_MULTIPLE (each node leader runs a service "
          "thread), but MPI was initialized with a lower thread level: initialize MPI with MPI_Init_thread(..., "
          "MPI_THREAD_MULTIPLE, ...) or let lagoon::Runtime(argc, argv) do it");
  });
  comm_ = mpi::Comm::duplicate(ctx.world);
  chunk_ = ctx.settings.max_message_bytes;
  inline_bytes_ = std::min(kInlineBytes, chunk_);
  // Whole elements in every body piece (accumulate adds them piece by piece).
  piece_ = std::max<std::size_t>(std::min<std::size_t>(chunk_, 4u << 20) / 8 * 8, 8);
  half_ = (comm_.tag_upper_bound() - kFirstReplyTag + 1) / 2;
  mpi::set_patience(std::chrono::seconds(ctx.settings.timeout_seconds));
  {
    // Each node's host name, so that a lost node is named as the user knows it.
    constexpr std::size_t kName = 64;
    std::array<char, kName> mine{};
    const std::string name = mpi::processor_name();
    std::memcpy(mine.data(), name.data(), std::min(name.size(), kName - 1));
    std::vector<char> all(kName * static_cast<std::size_t>(comm_.size()));
    mpi::allgather_bytes(mine.data(), kName, all.data(), comm_);
    for (int leader : ctx.leader_of_node) hosts_.emplace_back(all.data() + kName * static_cast<std::size_t>(leader));
  }
  outboxes_.resize(static_cast<std::size_t>(ctx.node_count));
  if (ctx.node.rank() == 0) {
    service_ = std::thread([this] { serve_loop(); });
    if (ctx.settings.timeout_seconds > 0) {
      watching_.store(true, std::memory_order_release);
      watcher_ = std::thread([this] { watch_loop(); });
    }
  }
}

Transport::~Transport() { stop(); }

void Transport::stop() noexcept {
  if (stopped_) return;
  stopped_ = true;
  try {
    try {
      flush();
    } catch (const Error& e) {
      // Posts that failed and nobody fenced: say so, the job goes on ending.
      std::fprintf(stderr, "lagoon: at shutdown: %s\n", e.what());
    }
    comm_.barrier();  // after this no rank sends another request
    if (watcher_.joinable()) {
      // Every node is here: no silence from now on means a loss.
      watching_.store(false, std::memory_order_release);
      watcher_.join();
    }
    if (service_.joinable()) {
      const Header stop{Verb::stop};
      mpi::send_bytes(&stop, sizeof stop, comm_.rank(), kRequestTag, comm_);
      service_.join();
    }
    comm_.free();
  } catch (const std::exception& e) {
    abort_job(MPI_COMM_WORLD, "the transport failed to stop", e.what());
  }
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
  // `count` consecutive tags of the lower half; a run that would pass it starts over.
  const auto span = static_cast<std::uint32_t>(half_);
  const auto value = tag_counter_.fetch_add(static_cast<std::uint32_t>(count), std::memory_order_relaxed) % span;
  const int tag = kFirstReplyTag + static_cast<int>(value);
  return tag > kFirstReplyTag + half_ - count ? kFirstReplyTag : tag;
}

int Transport::body_tag(const Header& header) const noexcept { return header.reply_tag + half_; }

// ---- client side ----

void Transport::send_batch(int node, Outbox& box) {
  if (box.batch.empty()) return;
  Header header{Verb::batch};
  header.body_bytes = box.batch.size() - sizeof header;
  std::memcpy(box.batch.data(), &header, sizeof header);
  mpi::send_bytes(box.batch.data(), box.batch.size(), service_rank(node), kRequestTag, comm_);
  box.batch.clear();
  ++box.unflushed;
}

void Transport::send_request(int node, Header header, const Ask& ask) {
  if (ask.args.size() > kMaxArgs)
    throw InvalidArgument("lagoon's transport: a request with " + std::to_string(ask.args.size()) +
                          " bytes of arguments (at most " + std::to_string(kMaxArgs) + ")");
  header.target = ask.target;
  header.op = ask.op;
  header.args_bytes = static_cast<std::uint32_t>(ask.args.size());
  header.body_bytes = ask.body.size();
  Outbox& box = outboxes_[static_cast<std::size_t>(node)];
  send_batch(node, box);  // posts sent before stay before
  const bool body_inline = sizeof header + ask.args.size() + ask.body.size() <= inline_bytes_;
  thread_local std::vector<std::byte> first;  // its capacity stays: no allocation per request
  first.clear();
  append(first, {bytes_of(header), ask.args, body_inline ? ask.body : std::span<const std::byte>()});
  const int service = service_rank(node);
  mpi::send_bytes(first.data(), first.size(), service, kRequestTag, comm_);
  if (!body_inline) mpi::send_bytes(ask.body.data(), ask.body.size(), service, body_tag(header), comm_, piece_);
}

Transport::Pending Transport::start(int node, const Ask& ask, std::span<std::byte> answer) {
  Pending pending;
  pending.node_ = node;
  const int tag = next_tag(2);
  const int service = service_rank(node);
  pending.error_ = std::make_unique<std::byte[]>(kErrorBytes);
  mpi::irecv_bytes(pending.error_.get(), kErrorBytes, service, tag, comm_, kErrorBytes, pending.receives_);
  mpi::irecv_bytes(answer.data(), answer.size(), service, tag + 1, comm_, chunk_, pending.receives_);
  pending.pieces_ = answer.empty() ? 1 : (answer.size() + chunk_ - 1) / chunk_;
  Header header{Verb::call};
  header.reply_tag = tag;
  header.answer_bytes = answer.size();
  const std::lock_guard lock(outbox_mutex_);
  guarded(node, "a request", [&] { send_request(node, header, ask); });
  return pending;
}

void Transport::finish(Pending& pending, What what) {
  for (std::size_t left = pending.pieces_; left > 0; --left) {
    const auto [index, bytes] = guarded(pending.node_, what, [&] { return pending.receives_.wait_any(); });
    if (index == 0) {  // an error instead of the body: the body's receives are cancelled
      (void)parse_head(pending.node_, {pending.error_.get(), bytes}, what);
      throw TransportError(what.str() + ": node " + std::to_string(pending.node_) +
                           " sent an answer head where its body was due");
    }
  }
  pending.receives_.cancel();  // the error's receive, which nothing will match
}

void Transport::call(int node, const Ask& ask, std::span<std::byte> answer, What what) {
  Pending pending = start(node, ask, answer);
  finish(pending, what);
}

std::vector<std::byte> Transport::call(int node, const Ask& ask, What what) {
  Header header{Verb::call};
  header.reply_tag = next_tag();
  header.answer_bytes = kAnySize;
  return guarded(node, what, [&] {
    {
      const std::lock_guard lock(outbox_mutex_);
      send_request(node, header, ask);
    }
    std::vector<std::byte> first;
    const AnswerHead head = receive_head(node, header.reply_tag, first, what);
    if (first.size() > sizeof head || head.bytes == 0) return std::vector<std::byte>(first.begin() + sizeof head, first.end());
    std::vector<std::byte> body(head.bytes);
    mpi::recv_bytes(body.data(), body.size(), service_rank(node), header.reply_tag, comm_, chunk_);
    return body;
  });
}

AnswerHead Transport::receive_head(int node, int tag, std::vector<std::byte>& first, What what) const {
  first = mpi::Message::probe(service_rank(node), tag, comm_).receive();
  return parse_head(node, first, what);
}

AnswerHead Transport::parse_head(int node, std::span<const std::byte> first, What what) const {
  AnswerHead head;
  const auto malformed = [&] {
    return TransportError(what.str() + ": node " + std::to_string(node) + " sent a malformed answer (" +
                          std::to_string(first.size()) + " bytes)");
  };
  if (first.size() < sizeof head) throw malformed();
  std::memcpy(&head, first.data(), sizeof head);
  if (head.error != 0) {
    // The target's own message names its rank; say who asked.
    const std::string text(reinterpret_cast<const char*>(first.data()) + sizeof head, first.size() - sizeof head);
    throw_error(static_cast<ErrorKind>(head.error), text + " [asked by world rank " +
                                                        std::to_string(ctx_.world.rank()) + "]");
  }
  if (first.size() > sizeof head && first.size() - sizeof head != head.bytes) throw malformed();
  return head;
}

void Transport::post(int node, const Ask& ask) {
  Header header{Verb::post};
  header.reply_tag = next_tag();
  bool full = false;
  {
    const std::lock_guard lock(outbox_mutex_);
    Outbox& box = outboxes_[static_cast<std::size_t>(node)];
    const std::size_t item = sizeof header + ask.args.size() + ask.body.size();
    // A batch (its own header, then the items) is one message of at most inline_bytes_.
    if (sizeof(Header) + item <= inline_bytes_ && ask.args.size() <= kMaxArgs) {
      if (!box.batch.empty() && box.batch.size() + item > inline_bytes_)
        guarded(node, "a batch of one-way requests (puts, accumulates, drops)", [&] { send_batch(node, box); });
      if (box.batch.empty()) box.batch.resize(sizeof(Header));  // the batch's own header, written when sent
      header.target = ask.target;
      header.op = ask.op;
      header.args_bytes = static_cast<std::uint32_t>(ask.args.size());
      header.body_bytes = ask.body.size();
      append(box.batch, {bytes_of(header), ask.args, ask.body});
    } else {
      guarded(node, "a one-way request (put, accumulate or drop)", [&] { send_request(node, header, ask); });
      ++box.unflushed;
    }
    full = box.unflushed >= kMaxUnflushed;
    if (full) box.unflushed = 0;
  }
  if (full) flush_nodes({node});
}

void Transport::flush() {
  std::vector<int> nodes;
  {
    const std::lock_guard lock(outbox_mutex_);
    for (std::size_t n = 0; n < outboxes_.size(); ++n) {
      guarded(static_cast<int>(n), "a batch of one-way requests (puts, accumulates, drops)", [&] { send_batch(static_cast<int>(n), outboxes_[n]); });
      if (std::exchange(outboxes_[n].unflushed, 0) > 0) nodes.push_back(static_cast<int>(n));
    }
  }
  flush_nodes(nodes);
}

void Transport::flush_nodes(const std::vector<int>& nodes) {
  std::vector<int> tags;
  for (int node : nodes) {
    Header header{Verb::flush};
    header.reply_tag = next_tag();
    header.answer_bytes = kAnySize;
    tags.push_back(header.reply_tag);
    guarded(node, "a flush", [&] { mpi::send_bytes(&header, sizeof header, service_rank(node), kRequestTag, comm_); });
  }
  std::string failed;
  ErrorKind kind = ErrorKind::transport;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::vector<std::byte> first;
    guarded(nodes[i], "a flush", [&] { (void)receive_head(nodes[i], tags[i], first, "lagoon's transport: flush"); });
    FlushReport report;
    if (first.size() < sizeof(AnswerHead) + sizeof report)
      throw TransportError("lagoon's transport: node " + std::to_string(nodes[i]) + " sent a malformed flush answer");
    std::memcpy(&report, first.data() + sizeof(AnswerHead), sizeof report);
    if (report.failed == 0) continue;
    if (failed.empty()) kind = static_cast<ErrorKind>(report.kind);
    const auto* text = reinterpret_cast<const char*>(first.data()) + sizeof(AnswerHead) + sizeof report;
    failed += "; node " + std::to_string(nodes[i]) + ": " + std::to_string(report.failed) + " failed, the first: " +
              std::string(text, first.size() - sizeof(AnswerHead) - sizeof report);
  }
  if (!failed.empty()) throw_error(kind, "lagoon: one-way requests (put/accumulate/drop) failed" + failed + on_rank());
}

std::string Transport::describe_node(int node) const {
  std::string ranks;
  for (std::size_t r = 0; r < ctx_.node_of_rank.size(); ++r)
    if (ctx_.node_of_rank[r] == node) {
      if (!ranks.empty()) ranks += ',';
      ranks += std::to_string(r);
    }
  const std::string host = node >= 0 ? hosts_.at(static_cast<std::size_t>(node)) : "?";
  return "node " + std::to_string(node) + " (host " + host + ", world ranks " + ranks + ")";
}

void Transport::lost(const mpi::TimedOut& e, int node, What what) const {
  if (node < 0 && e.peer() >= 0) node = ctx_.node_of_rank.at(static_cast<std::size_t>(e.peer()));
  throw TransportError("lagoon: " + describe_node(node) + " is lost: " + what.str() +
                       " saw no progress for LAGOON_TIMEOUT=" + std::to_string(mpi::patience().count() / 1000) +
                       " s (the node or the network to it failed; " + e.what() + ")");
}

// ---- service side ----

void Transport::answer(const Request& request, std::span<const std::byte> body) const {
  const Header& h = request.header;
  if (h.answer_bytes != kAnySize && h.answer_bytes != body.size())
    throw TransportError("an answer of " + std::to_string(body.size()) + " bytes to a client that expects " +
                         std::to_string(h.answer_bytes));
  request.answered_ = true;
  AnswerHead head;
  head.bytes = body.size();
  const int client = request.source;
  const int tag = h.reply_tag;
  if (h.answer_bytes != kAnySize) {
    // The client has posted its receives for the body on the next tag: the body alone.
    mpi::send_bytes(body.data(), body.size(), client, tag + 1, comm_, chunk_);
    return;
  }
  if (sizeof head + body.size() <= inline_bytes_) {
    std::vector<std::byte> message;
    append(message, {bytes_of(head), body});
    mpi::send_bytes(message.data(), message.size(), client, tag, comm_);
    return;
  }
  mpi::send_bytes(&head, sizeof head, client, tag, comm_);
  mpi::send_bytes(body.data(), body.size(), client, tag, comm_, chunk_);
}

void Transport::receive_body(const Request& request, std::span<std::byte> into) const {
  if (into.size() != request.header.body_bytes)
    throw TransportError("a request body of " + std::to_string(request.header.body_bytes) + " bytes, where " +
                         std::to_string(into.size()) + " were expected");
  if (!request.body_pending_) {
    if (!into.empty()) std::memcpy(into.data(), request.body_here.data(), into.size());
    return;
  }
  request.body_pending_ = false;
  mpi::recv_bytes(into.data(), into.size(), request.source, body_tag(request.header), comm_, piece_);
}

std::span<const std::byte> Transport::receive_piece(const Request& request, std::size_t bytes) const {
  if (scratch_.size() < bytes) scratch_.resize(bytes);
  mpi::recv_bytes(scratch_.data(), bytes, request.source, body_tag(request.header), comm_, piece_);
  return {scratch_.data(), bytes};
}

void Transport::watch_loop() noexcept {
  // Half a timeout more than a request waits: a link that comes back within the timeout
  // may still hold pings behind the data TCP retransmits (its backoff reaches seconds).
  const auto patience =
      std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(ctx_.settings.timeout_seconds) * 3 / 2);
  const auto every = std::max<Clock::duration>(patience / 8, 100ms);  // a lost ping or two is no loss
  std::vector<Clock::time_point> heard(static_cast<std::size_t>(ctx_.node_count), Clock::now());
  auto next_ping = Clock::now();
  const Header ping{Verb::ping};
  Header received;
  mpi::Requests pings;
  try {
    while (watching_.load(std::memory_order_acquire)) {
      auto now = Clock::now();
      if (now >= next_ping) {
        next_ping = now + every;
        if (pings.reap() < 64)  // pings stuck behind a cut link are not piled up
          for (int n = 0; n < ctx_.node_count; ++n)
            if (n != ctx_.node_index) mpi::isend_bytes(&ping, sizeof ping, service_rank(n), kPingTag, comm_, pings);
      }
      while (auto m = mpi::Message::try_probe(MPI_ANY_SOURCE, kPingTag, comm_)) {
        m->receive(&received);
        heard[static_cast<std::size_t>(ctx_.node_of_rank.at(static_cast<std::size_t>(m->source())))] = Clock::now();
      }
      now = Clock::now();
      for (int n = 0; n < ctx_.node_count; ++n) {
        if (n == ctx_.node_index || now - heard[static_cast<std::size_t>(n)] <= patience) continue;
        abort_job(comm_, "a lost node",
                  describe_node(n) + " is lost: node " + std::to_string(ctx_.node_index) +
                      " has had no sign of life from it for 1.5 x LAGOON_TIMEOUT=" +
                      std::to_string(ctx_.settings.timeout_seconds) +
                      " s (the node or the network to it failed); the job ends, whatever its ranks wait for");
      }
      std::this_thread::sleep_for(100ms);  // an idle process pays a wake-up per 0.1 s
    }
  } catch (const std::exception& e) {
    abort_job(comm_, "lagoon's failure detector failed", e.what());
  }
}

void Transport::serve_loop() noexcept {
  std::vector<std::byte> message;
  auto last = Clock::now();
  try {
    for (;;) {
      auto probed = mpi::Message::try_probe(MPI_ANY_SOURCE, kRequestTag, comm_);
      if (!probed) {
        back_off(Clock::now() - last);
        continue;
      }
      const int source = probed->source();
      message.resize(probed->bytes());
      probed->receive(message.data());
      const Verb verb = message.size() >= sizeof(Header) ? reinterpret_cast<const Header*>(message.data())->verb
                                                         : Verb::call;
      if (verb == Verb::stop) return;
      handle(message, source);
      last = Clock::now();
    }
  } catch (const std::exception& e) {
    abort_job(comm_, "the transport service failed", e.what());
  }
}

bool Transport::parse(std::span<const std::byte>& bytes, Request& request, bool whole) {
  if (bytes.size() < sizeof(Header)) return false;
  std::memcpy(&request.header, bytes.data(), sizeof(Header));
  const Header& h = request.header;
  auto rest = bytes.subspan(sizeof(Header));
  if (h.args_bytes > kMaxArgs || h.args_bytes > rest.size()) return false;
  request.args = rest.first(h.args_bytes);
  rest = rest.subspan(h.args_bytes);
  if (h.body_bytes <= rest.size()) {
    request.body_here = rest.first(h.body_bytes);
    bytes = rest.subspan(h.body_bytes);
    return true;
  }
  // A body too large to travel with its header follows in pieces.
  if (!whole || !rest.empty()) return false;
  request.body_pending_ = true;
  bytes = rest;
  return true;
}

void Transport::handle(std::vector<std::byte>& message, int source) {
  Request request;
  request.source = source;
  std::span<const std::byte> bytes(message);
  if (!parse(bytes, request, true)) {
    record_failure(source, ErrorKind::transport, "a malformed request");  // nothing to answer
    return;
  }
  switch (request.header.verb) {
    case Verb::flush: {
      // Everything this client sent before the flush is done: publish the writes, answer.
      std::atomic_thread_fence(std::memory_order_seq_cst);
      Failures f;
      if (auto it = failures_.find(source); it != failures_.end()) {
        f = std::move(it->second);
        failures_.erase(it);
      }
      const FlushReport report{f.count, static_cast<std::int32_t>(f.kind)};
      std::vector<std::byte> answer_body;
      append(answer_body, {bytes_of(report), std::as_bytes(std::span<const char>(f.first))});
      answer(request, answer_body);
      return;
    }
    case Verb::batch: {
      auto rest = request.body_here;
      while (!rest.empty()) {
        Request item;
        item.source = source;
        if (!parse(rest, item, false) || item.header.verb != Verb::post) {
          record_failure(source, ErrorKind::transport, "a malformed batch of requests");  // stop reading it
          return;
        }
        dispatch(item);
      }
      return;
    }
    case Verb::call:
    case Verb::post:
      dispatch(request);
      return;
    case Verb::stop:
    case Verb::ping:
      break;
  }
  record_failure(source, ErrorKind::transport, "a request of an unknown verb");
}

void Transport::record_failure(int source, ErrorKind kind, const std::string& what) {
  Failures& f = failures_[source];
  if (f.count++ == 0) {
    f.kind = kind;
    f.first = what;
  }
}

void Transport::dispatch(const Request& request) {
  const Header& h = request.header;
  try {
    const std::lock_guard serving(serving_mutex_);  // remove() waits for the serve to end
    Handler* handler = nullptr;
    {
      const std::lock_guard lock(handlers_mutex_);
      if (auto it = handlers_.find(h.target); it != handlers_.end()) handler = it->second;
    }
    if (handler == nullptr)
      throw TransportError("no object #" + std::to_string(h.target) + " on node " + std::to_string(ctx_.node_index) +
                           " (destroyed?)");
    handler->serve(request, *this);
    if (h.verb == Verb::call && !request.answered_)
      throw TransportError("object #" + std::to_string(h.target) + " did not answer request " + std::to_string(h.op));
  } catch (const MpiError&) {
    throw;  // the transport itself is broken: fail-stop
  } catch (const mpi::TimedOut& e) {
    lost(e, -1, "an answer to world rank " + std::to_string(request.source));  // its client is gone: fail-stop
  } catch (const std::exception& e) {
    const auto* error = dynamic_cast<const Error*>(&e);
    const ErrorKind kind = error ? error->kind() : ErrorKind::generic;
    if (h.verb == Verb::call && !request.answered_) {
      // The client waits for an answer: the error, as its kind and message (which fits
      // the receive a client of an answer of known size posted for it).
      std::string text = error ? e.what() : e.what() + on_rank();
      if (h.answer_bytes != kAnySize && text.size() > kErrorBytes - sizeof(AnswerHead))
        text.resize(kErrorBytes - sizeof(AnswerHead));
      AnswerHead head;
      head.error = static_cast<std::int32_t>(kind);
      head.bytes = text.size();
      std::vector<std::byte> message;
      append(message, {bytes_of(head), std::as_bytes(std::span<const char>(text))});
      mpi::send_bytes(message.data(), message.size(), request.source, h.reply_tag, comm_);
    } else if (h.verb == Verb::post) {
      record_failure(request.source, kind, e.what());
    }
  }
  if (request.body_pending_) receive_body(request, [](std::size_t, std::span<const std::byte>) {});  // drop it
}

}  // namespace lagoon::detail
