// The thin MPI core: each function makes one checked MPI call (or one loop of
// them, for transfers larger than an int count). The only file that calls MPI's
// point-to-point functions.
#include "lagoon/mpi.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "lagoon/error.hpp"

namespace lagoon::mpi {

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  int error_class = 0;
  MPI_Error_class(rc, &error_class);
  throw MpiError(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)) +
                     " (code " + std::to_string(rc) + ", class " + std::to_string(error_class) + ")",
                 rc);
}

Comm::Comm(MPI_Comm comm) : comm_(comm) {
  if (comm_ == MPI_COMM_NULL) return;
  check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

Comm Comm::duplicate(MPI_Comm comm) {
  MPI_Comm dup = MPI_COMM_NULL;
  check(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup");
  return Comm(dup);
}

Comm Comm::split(int color, int key) const {
  MPI_Comm part = MPI_COMM_NULL;
  check(MPI_Comm_split(comm_, color, key, &part), "MPI_Comm_split");
  return Comm(part);
}

Comm& Comm::operator=(Comm&& other) noexcept {
  if (this != &other) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
  }
  return *this;
}

Comm::~Comm() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void Comm::free() {
  if (comm_ == MPI_COMM_NULL) return;
  check(MPI_Comm_free(&comm_), "MPI_Comm_free");
  comm_ = MPI_COMM_NULL;
}

void Comm::barrier() const { check(MPI_Barrier(comm_), "MPI_Barrier"); }

int Comm::tag_upper_bound() const {
  void* value = nullptr;
  int found = 0;
  check(MPI_Comm_get_attr(comm_, MPI_TAG_UB, &value, &found), "MPI_Comm_get_attr(MPI_TAG_UB)");
  return found ? *static_cast<int*>(value) : 32767;  // the least the standard promises
}

NodeComm NodeComm::split_shared(const Comm& world, int ranks_per_node) {
  MPI_Comm shared = MPI_COMM_NULL;
  check(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, world.rank(), MPI_INFO_NULL, &shared),
        "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)");
  Comm node(shared);
  if (ranks_per_node <= 0 || ranks_per_node >= node.size()) return NodeComm(std::move(node));
  return NodeComm(node.split(node.rank() / ranks_per_node, node.rank()));
}

SharedWindow::SharedWindow(const NodeComm& node, std::size_t local_bytes) {
  void* base = nullptr;
  check(MPI_Win_allocate_shared(static_cast<MPI_Aint>(local_bytes), 1, MPI_INFO_NULL, node, &base, &win_),
        "MPI_Win_allocate_shared");
  // Windows do not inherit the communicator's error handler: their default is fatal.
  check(MPI_Win_set_errhandler(win_, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");
  check(MPI_Win_lock_all(MPI_MODE_NOCHECK, win_), "MPI_Win_lock_all");
}

SharedWindow& SharedWindow::operator=(SharedWindow&& other) noexcept {
  if (this != &other) {
    if (win_ != MPI_WIN_NULL) {
      MPI_Win_unlock_all(win_);
      MPI_Win_free(&win_);
    }
    win_ = std::exchange(other.win_, MPI_WIN_NULL);
  }
  return *this;
}

SharedWindow::~SharedWindow() {
  if (win_ == MPI_WIN_NULL) return;
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
}

void SharedWindow::free() {
  if (win_ == MPI_WIN_NULL) return;
  check(MPI_Win_unlock_all(win_), "MPI_Win_unlock_all");
  check(MPI_Win_free(&win_), "MPI_Win_free");
  win_ = MPI_WIN_NULL;
}

std::byte* SharedWindow::base(int node_rank) const {
  MPI_Aint size = 0;
  int disp_unit = 0;
  void* base = nullptr;
  check(MPI_Win_shared_query(win_, node_rank, &size, &disp_unit, &base), "MPI_Win_shared_query");
  return static_cast<std::byte*>(base);
}

void SharedWindow::sync() const { check(MPI_Win_sync(win_), "MPI_Win_sync"); }

namespace {

/// Calls `step(offset, count)` for each piece of at most `chunk` bytes of `bytes`;
/// once, with a count of 0, for 0 bytes (every transfer is at least one message).
template <class F>
void for_each_piece(std::size_t bytes, std::size_t chunk, F&& step) {
  chunk = std::clamp<std::size_t>(chunk, 1, max_message_bytes);
  if (bytes == 0) return step(std::size_t{0}, 0);
  for (std::size_t done = 0; done < bytes; done += chunk) step(done, static_cast<int>(std::min(chunk, bytes - done)));
}

std::atomic<std::int64_t> patience_ms{0};

/// "2.5 s" for 2500 ms.
std::string seconds(std::int64_t ms) {
  char text[32];
  std::snprintf(text, sizeof text, ms % 1000 == 0 ? "%.0f s" : "%.1f s", static_cast<double>(ms) / 1000.0);
  return text;
}

/// A wait by polling: spins for a few microseconds, then yields the core at each turn,
/// then sleeps between turns, and throws TimedOut once
/// the patience has passed without progress.
class Waiting {
 public:
  void idle(const char* what, int peer, int tag) {
    if (++turns_ < 64) return;
    const auto now = std::chrono::steady_clock::now();
    if (turns_ == 64) {
      since_ = now;
      return;
    }
    const std::int64_t limit = patience_ms.load(std::memory_order_relaxed);
    if (limit > 0 && now - since_ > std::chrono::milliseconds(limit))
      throw TimedOut(std::string("no progress in ") + what +
                     (peer == MPI_ANY_SOURCE ? std::string() : " with rank " + std::to_string(peer)) +
                     (tag == MPI_ANY_TAG ? std::string() : " (tag " + std::to_string(tag) + ")") + " within " + seconds(limit),
                     peer);
    // Past a short spin, give the core away: the answer often needs another thread of
    // this machine (a service, a peer rank) that a spinning wait would keep off it for a
    // scheduler period (milliseconds) when ranks outnumber cores.
    const auto waited = now - since_;
    if (waited > std::chrono::microseconds(200))
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    else if (waited > std::chrono::microseconds(20))
      sched_yield();
  }

 private:
  std::uint64_t turns_ = 0;
  std::chrono::steady_clock::time_point since_;
};

/// Waits for one request to complete.
void wait_one(MPI_Request& request, const char* what, int peer, int tag) {
  Waiting waiting;
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    waiting.idle(what, peer, tag);
  }
}

}  // namespace

void set_patience(std::chrono::milliseconds patience) noexcept {
  patience_ms.store(patience.count(), std::memory_order_relaxed);
}

std::chrono::milliseconds patience() noexcept {
  return std::chrono::milliseconds(patience_ms.load(std::memory_order_relaxed));
}

void bcast_bytes(void* data, std::size_t bytes, int root, MPI_Comm comm, std::size_t chunk) {
  auto* p = static_cast<std::byte*>(data);
  for_each_piece(bytes, chunk,
                 [&](std::size_t at, int n) { check(MPI_Bcast(p + at, n, MPI_BYTE, root, comm), "MPI_Bcast"); });
}

void allgather_bytes(const void* mine, std::size_t bytes, void* all, MPI_Comm comm) {
  const auto n = static_cast<int>(bytes);
  check(MPI_Allgather(mine, n, MPI_BYTE, all, n, MPI_BYTE, comm), "MPI_Allgather");
}

void bcast_string(std::string& text, int root, MPI_Comm comm) {
  std::uint64_t length = text.size();
  bcast_value(length, root, comm);
  text.resize(static_cast<std::size_t>(length));
  bcast_bytes(text.data(), text.size(), root, comm);
}

void gather_bytes(const void* mine, std::size_t bytes, void* all, int root, MPI_Comm comm) {
  const auto n = static_cast<int>(bytes);
  check(MPI_Gather(mine, n, MPI_BYTE, all, n, MPI_BYTE, root, comm), "MPI_Gather");
}

std::string processor_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  check(MPI_Get_processor_name(name, &length), "MPI_Get_processor_name");
  return {name, static_cast<std::size_t>(length)};
}

int thread_level() {
  int provided = MPI_THREAD_SINGLE;
  check(MPI_Query_thread(&provided), "MPI_Query_thread");
  return provided;
}

// ---- point to point ----

Requests& Requests::operator=(Requests&& other) noexcept {
  if (this != &other) {
    cancel();
    requests_ = std::exchange(other.requests_, {});
  }
  return *this;
}

MPI_Request* Requests::add() {
  requests_.push_back(MPI_REQUEST_NULL);
  return &requests_.back();
}

bool Requests::test_all() {
  int done = 0;
  check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
  if (done) requests_.clear();
  return done != 0;
}

std::pair<std::size_t, std::size_t> Requests::wait_any() {
  int index = MPI_UNDEFINED;
  MPI_Status status;
  Waiting waiting;
  for (;;) {
    int done = 0;
    check(MPI_Testany(static_cast<int>(requests_.size()), requests_.data(), &index, &done, &status), "MPI_Testany");
    if (done) break;
    waiting.idle("a wait for a message", MPI_ANY_SOURCE, MPI_ANY_TAG);
  }
  if (index == MPI_UNDEFINED) return {requests_.size(), 0};
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  return {static_cast<std::size_t>(index), static_cast<std::size_t>(count)};
}

std::size_t Requests::reap() {
  if (requests_.empty()) return 0;
  std::vector<int> done(requests_.size());
  int count = 0;
  check(MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(), &count, done.data(), MPI_STATUSES_IGNORE),
        "MPI_Testsome");
  std::erase(requests_, MPI_REQUEST_NULL);
  return requests_.size();
}

void isend_bytes(const void* data, std::size_t bytes, int dest, int tag, MPI_Comm comm, Requests& into) {
  check(MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, comm, into.add()), "MPI_Isend");
}

void iallreduce_sum(const std::uint64_t* in, std::uint64_t* out, int count, MPI_Comm comm, Requests& into) {
  check(MPI_Iallreduce(in, out, count, MPI_UINT64_T, MPI_SUM, comm, into.add()), "MPI_Iallreduce");
}

void Requests::cancel() noexcept {
  for (MPI_Request& r : requests_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    try {
      wait_one(r, "a cancelled request", MPI_ANY_SOURCE, MPI_ANY_TAG);
    } catch (const std::exception&) {
      // Its peer is gone (a timeout is on its way up): leave the request to MPI.
    }
  }
  requests_.clear();
}

void send_bytes(const void* data, std::size_t bytes, int dest, int tag, MPI_Comm comm, std::size_t chunk) {
  const auto* p = static_cast<const std::byte*>(data);
  for_each_piece(bytes, chunk, [&](std::size_t at, int n) {
    MPI_Request r = MPI_REQUEST_NULL;
    check(MPI_Isend(p + at, n, MPI_BYTE, dest, tag, comm, &r), "MPI_Isend");
    wait_one(r, "a send", dest, tag);
  });
}

void recv_bytes(void* data, std::size_t bytes, int source, int tag, MPI_Comm comm, std::size_t chunk) {
  auto* p = static_cast<std::byte*>(data);
  for_each_piece(bytes, chunk, [&](std::size_t at, int n) {
    MPI_Request r = MPI_REQUEST_NULL;
    check(MPI_Irecv(p + at, n, MPI_BYTE, source, tag, comm, &r), "MPI_Irecv");
    wait_one(r, "a receive", source, tag);
  });
}

void irecv_bytes(void* data, std::size_t bytes, int source, int tag, MPI_Comm comm, std::size_t chunk,
                 Requests& into) {
  auto* p = static_cast<std::byte*>(data);
  for_each_piece(bytes, chunk, [&](std::size_t at, int n) {
    check(MPI_Irecv(p + at, n, MPI_BYTE, source, tag, comm, into.add()), "MPI_Irecv");
  });
}

Message::Message(MPI_Message message, const MPI_Status& status) : message_(message), source_(status.MPI_SOURCE) {
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  bytes_ = static_cast<std::size_t>(count);
}

std::optional<Message> Message::try_probe(int source, int tag, MPI_Comm comm) {
  int arrived = 0;
  MPI_Message message = MPI_MESSAGE_NULL;
  MPI_Status status;
  check(MPI_Improbe(source, tag, comm, &arrived, &message, &status), "MPI_Improbe");
  if (!arrived) return std::nullopt;
  return Message(message, status);
}

Message Message::probe(int source, int tag, MPI_Comm comm) {
  Waiting waiting;
  for (;;) {
    if (auto message = try_probe(source, tag, comm)) return std::move(*message);
    waiting.idle("a wait for a message", source, tag);
  }
}

Message::~Message() {
  if (message_ == MPI_MESSAGE_NULL) return;
  std::vector<std::byte> dropped(bytes_);
  MPI_Mrecv(dropped.data(), static_cast<int>(bytes_), MPI_BYTE, &message_, MPI_STATUS_IGNORE);
}

void Message::receive(void* into) {
  check(MPI_Mrecv(into, static_cast<int>(bytes_), MPI_BYTE, &message_, MPI_STATUS_IGNORE), "MPI_Mrecv");
  message_ = MPI_MESSAGE_NULL;
}

std::vector<std::byte> Message::receive() {
  std::vector<std::byte> out(bytes_);
  receive(out.data());
  return out;
}

}  // namespace lagoon::mpi
