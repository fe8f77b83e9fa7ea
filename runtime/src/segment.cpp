// Node-wide shared segments: the free-memory check, the window and parallel
// population of the pages. Memory only: what travels between nodes is the arrays'.
#include "lagoon/segment.hpp"

#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/share.hpp"
#include "context.hpp"
#include "lagoon/error.hpp"
#include "lagoon/memory.hpp"
#include "segment_state.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older C libraries lack the name
#endif

namespace lagoon {
namespace {

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

/// Throws OutOfMemory unless the node has room for `request` bytes of shared memory:
/// tmpfs would accept the file and kill the job with SIGBUS later.
void check_room(std::size_t request, const detail::Context& ctx, const std::string& what) {
  const std::size_t available = available_memory();
  std::size_t fs_free = available;
  struct statvfs fs {};
  if (::statvfs(ctx.settings.shm_dir.c_str(), &fs) == 0) fs_free = static_cast<std::size_t>(fs.f_bavail) * fs.f_frsize;
  const std::size_t room = std::min(available, fs_free);
  if (request <= room) return;
  throw OutOfMemory(what + ": needs " + format_bytes(static_cast<double>(request)) + " of shared memory on node " +
                    std::to_string(ctx.node_index) + ", which has " + format_bytes(static_cast<double>(room)) +
                    " available (MemAvailable " + format_bytes(static_cast<double>(available)) + ", " +
                    ctx.settings.shm_dir + " free " + format_bytes(static_cast<double>(fs_free)) + ")");
}

/// First-touches [begin, end) (page-aligned) for writing. MADV_POPULATE_WRITE turns a
/// shortage into an error code and costs a fraction of faulting each page from user space.
void populate(std::byte* begin, std::byte* end, const detail::Context& ctx, const std::string& what) {
  if (begin >= end) return;
  const auto length = static_cast<std::size_t>(end - begin);
  int rc = 0;
  do {
    rc = ::madvise(begin, length, MADV_POPULATE_WRITE);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return;
  if (errno == EINVAL) {  // a kernel before 5.14: touch each page (still zero) by hand
    for (std::byte* p = begin; p < end; p += page_size()) *reinterpret_cast<volatile std::byte*>(p) = std::byte{0};
    return;
  }
  throw OutOfMemory(what + ": populating " + format_bytes(static_cast<double>(length)) + " of shared memory in " +
                    ctx.settings.shm_dir + " on node " + std::to_string(ctx.node_index) + " failed (" +
                    std::strerror(errno) + "): the node is out of memory, or " + ctx.settings.shm_dir + " is full");
}

}  // namespace

Segment::Segment() noexcept = default;
Segment::Segment(Segment&&) noexcept = default;

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    if (state_) {
      state_->ctx->forget(state_->cleanup);
      state_->release();
    }
    state_ = std::move(other.state_);
  }
  return *this;
}

Segment::Segment(const Runtime& rt, std::size_t bytes, std::size_t alignment, std::string what)
    : state_(std::make_unique<detail::SegmentState>()) {
  auto& s = *state_;
  s.ctx = detail::context_of(rt);
  s.ctx->check_alive(what.c_str());
  s.bytes = bytes;
  s.what = std::move(what);
  const auto& ctx = *s.ctx;
  const bool leader = ctx.node.rank() == 0;
  alignment = std::max<std::size_t>(alignment, 64);
  const std::size_t request = bytes == 0 ? 0 : bytes + alignment;

  detail::agree(ctx.world, [&] {
    if (leader && request > 0) check_room(request, ctx, s.what);
  });
  // Every node creates its window before any node populates one. Open MPI's leader
  // checks the file system's free space when it creates the backing file and, short
  // of room, fails without telling the node's other ranks, which then wait forever.
  // Creating all files first (sparse: no pages yet) keeps one node's pages from
  // starving another node's creation on a shared tmpfs (virtual nodes); a shortage
  // then shows up while populating, as an error code on the ranks that hit it.
  detail::agree(ctx.world, [&] { s.window = mpi::SharedWindow(ctx.node, leader ? request : 0); });
  detail::agree(ctx.world, [&] {
    if (request == 0) return;
    // Open MPI puts a header in front of the data: align the start ourselves.
    const auto base = reinterpret_cast<std::uintptr_t>(s.window.base(0));
    s.data = reinterpret_cast<std::byte*>((base + alignment - 1) / alignment * alignment);
    // Each rank populates its own pages, in parallel: the first touch is the cost of
    // creation, and it places each page on the NUMA domain of the rank that touched it.
    const std::size_t page = page_size();
    const auto first = reinterpret_cast<std::uintptr_t>(s.data) / page * page;
    const std::size_t pages = (reinterpret_cast<std::uintptr_t>(s.data) + bytes - first + page - 1) / page;
    ::madvise(reinterpret_cast<void*>(first), pages * page, MADV_HUGEPAGE);  // used by huge=advise mounts
    if (ctx.node.size() == 1) {
      // A window of one rank is no shared file: Open MPI 4.1 takes it from the heap
      // (posix_memalign), which may hand back used memory. Zero it ourselves.
      std::memset(s.data, 0, bytes);
      return;
    }
    // A window of several ranks is a fresh shared-memory file: its pages come zeroed.
    const auto [lo, hi] = detail::share_bounds(pages, static_cast<std::size_t>(ctx.node.size()),
                                               static_cast<std::size_t>(ctx.node.rank()));
    populate(reinterpret_cast<std::byte*>(first + lo * page), reinterpret_cast<std::byte*>(first + hi * page), ctx,
             s.what);
  });
  s.window.sync();
  s.cleanup = s.ctx->at_shutdown([state = state_.get()] { state->release(); });
}

Segment::~Segment() {
  if (!state_) return;
  state_->ctx->forget(state_->cleanup);
  state_->release();
}

std::byte* Segment::data() const noexcept { return state_ ? state_->data : nullptr; }
std::size_t Segment::bytes() const noexcept { return state_ ? state_->bytes : 0; }

void Segment::check_alive() const {
  if (!state_) throw InvalidArgument("lagoon::Segment: used after it was moved from");
  state_->ctx->check_alive(state_->what.c_str());
}

void Segment::sync() const {
  check_alive();
  state_->window.sync();
}

void Segment::fence() const {
  check_alive();
  state_->window.sync();
  state_->ctx->node.barrier();
  state_->window.sync();
}

}  // namespace lagoon
