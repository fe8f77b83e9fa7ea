// The thin MPI core: each function makes one checked MPI call (or one loop of
// them, for transfers larger than an int count). The only file that calls MPI's
// point-to-point functions.
#include "lagoon/mpi.hpp"

#include <algorithm>
#include <string>

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

}  // namespace

void bcast_bytes(void* data, std::size_t bytes, int root, MPI_Comm comm, std::size_t chunk) {
  auto* p = static_cast<std::byte*>(data);
  for_each_piece(bytes, chunk,
                 [&](std::size_t at, int n) { check(MPI_Bcast(p + at, n, MPI_BYTE, root, comm), "MPI_Bcast"); });
}

void allgather_bytes(const void* mine, std::size_t bytes, void* all, MPI_Comm comm) {
  const auto n = static_cast<int>(bytes);
  check(MPI_Allgather(mine, n, MPI_BYTE, all, n, MPI_BYTE, comm), "MPI_Allgather");
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
  check(MPI_Waitany(static_cast<int>(requests_.size()), requests_.data(), &index, &status), "MPI_Waitany");
  if (index == MPI_UNDEFINED) return {requests_.size(), 0};
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  return {static_cast<std::size_t>(index), static_cast<std::size_t>(count)};
}

void iallreduce_sum(const std::uint64_t* in, std::uint64_t* out, int count, MPI_Comm comm, Requests& into) {
  check(MPI_Iallreduce(in, out, count, MPI_UINT64_T, MPI_SUM, comm, into.add()), "MPI_Iallreduce");
}

void Requests::cancel() noexcept {
  for (MPI_Request& r : requests_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  requests_.clear();
}

void send_bytes(const void* data, std::size_t bytes, int dest, int tag, MPI_Comm comm, std::size_t chunk) {
  const auto* p = static_cast<const std::byte*>(data);
  for_each_piece(bytes, chunk,
                 [&](std::size_t at, int n) { check(MPI_Send(p + at, n, MPI_BYTE, dest, tag, comm), "MPI_Send"); });
}

void recv_bytes(void* data, std::size_t bytes, int source, int tag, MPI_Comm comm, std::size_t chunk) {
  auto* p = static_cast<std::byte*>(data);
  for_each_piece(bytes, chunk, [&](std::size_t at, int n) {
    check(MPI_Recv(p + at, n, MPI_BYTE, source, tag, comm, MPI_STATUS_IGNORE), "MPI_Recv");
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
  MPI_Message message = MPI_MESSAGE_NULL;
  MPI_Status status;
  check(MPI_Mprobe(source, tag, comm, &message, &status), "MPI_Mprobe");
  return Message(message, status);
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
