// The thin MPI core: each function makes one checked MPI call (or one loop of
// them, for transfers larger than an int count).
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
                     " (code " + std::to_string(rc) + ", class " + std::to_string(error_class) + ")" +
                     detail::on_rank(),
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

void bcast_bytes(void* data, std::size_t bytes, int root, MPI_Comm comm, std::size_t chunk) {
  chunk = std::clamp<std::size_t>(chunk, 1, max_message_bytes);
  auto* p = static_cast<std::byte*>(data);
  for (std::size_t done = 0; done < bytes; done += chunk) {
    const auto n = static_cast<int>(std::min(chunk, bytes - done));
    check(MPI_Bcast(p + done, n, MPI_BYTE, root, comm), "MPI_Bcast");
  }
}

}  // namespace lagoon::mpi
