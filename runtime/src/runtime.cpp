// Runtime start-up: MPI initialization (with the shared-memory directory handed
// to Open MPI first), LAGOON_* settings, and the world/node/leader communicators.
#include "lagoon/runtime.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>

#include "context.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/error.hpp"
#include "segment_state.hpp"
#include "transport.hpp"

namespace lagoon {
namespace {

constexpr const char* kOmpiShmDir = "OMPI_MCA_osc_sm_backing_directory";

/// Hands LAGOON_SHM_DIR to Open MPI's shared-window component before MPI_Init
/// (the MCA parameter is read-only once MPI runs). Returns why it was not used, if so.
std::string configure_shm_dir() {
  const char* dir = std::getenv("LAGOON_SHM_DIR");
  if (dir == nullptr || *dir == '\0') return {};
  if (const char* set = std::getenv(kOmpiShmDir); set != nullptr && std::string(set) != dir)
    return std::string("LAGOON_SHM_DIR=") + dir + " not used: " + kOmpiShmDir + "=" + set + " takes precedence";
  struct stat info {};
  if (::stat(dir, &info) != 0 || !S_ISDIR(info.st_mode) || ::access(dir, W_OK | X_OK) != 0)
    return std::string("LAGOON_SHM_DIR=") + dir + " is not a writable directory; shared windows use Open MPI's default";
  ::setenv(kOmpiShmDir, dir, 1);
  return {};
}

/// Whether `dir` lies on a mount whose pages are huge: a tmpfs mounted with
/// huge=always/within_size/advise (lagoon advises huge pages), or a hugetlbfs.
bool is_huge_page_dir(const std::string& dir) {
  char resolved[PATH_MAX];
  if (::realpath(dir.c_str(), resolved) == nullptr) return false;
  const std::string path = resolved;
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  std::string best_point;
  bool best_huge = false;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, point, type, options;
    fields >> device >> point >> type >> options;
    const bool inside = path == point || (path.rfind(point, 0) == 0 && (point == "/" || path[point.size()] == '/'));
    if (!inside || point.size() < best_point.size()) continue;
    best_point = point;
    best_huge = type == "hugetlbfs" ||
                (type == "tmpfs" && (options.find("huge=always") != std::string::npos ||
                                     options.find("huge=within_size") != std::string::npos ||
                                     options.find("huge=advise") != std::string::npos));
  }
  return best_huge;
}

/// Parses a positive integer setting; throws InvalidArgument naming the variable.
long long parse_setting(const char* name, long long low, long long high) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return -1;
  long long value = 0;
  const char* end = text + std::char_traits<char>::length(text);
  const auto [stop, ec] = std::from_chars(text, end, value);
  if (ec != std::errc{} || stop != end || value < low || value > high)
    throw InvalidArgument(std::string(name) + "=" + text + " is not an integer in [" + std::to_string(low) + ", " +
                          std::to_string(high) + "]" + detail::on_rank());
  return value;
}

/// What an exception says, for the last words of a rank.
std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "no active exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception of unknown type";
  }
}

/// Ends the whole job from this rank: after a message naming the rank and the error,
/// MPI_Abort (every launcher, srun too, then stops every rank).
[[noreturn]] void abort_job(MPI_Comm comm, const char* why, const std::string& what) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "lagoon: %s on world rank %d (%s); calling MPI_Abort so that the job ends instead of hanging\n",
               why, rank, what.c_str());
  std::fflush(stderr);
  MPI_Abort(comm, 1);
  std::abort();
}

/// An exception that nothing catches calls std::terminate without unwinding the stack
/// (so ~Runtime never runs): end the job from here instead of leaving the others waiting.
[[noreturn]] void terminate_job() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized)
    abort_job(MPI_COMM_WORLD, "uncaught exception", describe_exception(std::current_exception()));
  std::abort();
}

void init_mpi(int* argc, char*** argv, bool& owns, std::string& note) {
  int initialized = 0;
  mpi::check(MPI_Initialized(&initialized), "MPI_Initialized");
  if (initialized) return;
  note = configure_shm_dir();
  int provided = 0;
  mpi::check(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  owns = true;
}

}  // namespace

namespace detail {

Context::Context(MPI_Comm parent, bool owns_mpi, std::string shm_note) try : owns_mpi_(owns_mpi) {
  world = mpi::Comm::duplicate(parent);

  // Job-wide settings: read where the launcher's environment surely is, then broadcast.
  long long job[4] = {0, static_cast<long long>(settings.max_message_bytes), 0, 0};
  agree(world, [&] {
    if (world.rank() != 0) return;
    if (auto k = parse_setting("LAGOON_RANKS_PER_NODE", 1, 1 << 20); k > 0) job[0] = k;
    if (auto m = parse_setting("LAGOON_MAX_MESSAGE_BYTES", 1, INT_MAX); m > 0) job[1] = m;
    constexpr long long kLargest = 1ll << 50;
    if (auto b = parse_setting("LAGOON_STORE_BYTES", 1, kLargest); b > 0) job[2] = b;
    if (auto b = parse_setting("LAGOON_MAP_BYTES", 1, kLargest); b > 0) job[3] = b;
  });
  mpi::check(MPI_Bcast(job, 4, MPI_LONG_LONG, 0, world), "MPI_Bcast");
  settings.ranks_per_node = static_cast<int>(job[0]);
  settings.max_message_bytes = static_cast<std::size_t>(job[1]);
  settings.store_bytes = static_cast<std::size_t>(job[2]);
  settings.map_bytes = static_cast<std::size_t>(job[3]);
  const char* dir = std::getenv(kOmpiShmDir);
  settings.shm_dir = dir != nullptr ? dir : "/dev/shm";
  settings.huge_pages = is_huge_page_dir(settings.shm_dir);
  settings.shm_note = std::move(shm_note);

  node = mpi::NodeComm::split_shared(world, settings.ranks_per_node);
  leaders = world.split(node.rank() == 0 ? 0 : MPI_UNDEFINED, world.rank());
  int counts[2] = {leaders.rank(), leaders.size()};
  mpi::check(MPI_Bcast(counts, 2, MPI_INT, 0, node), "MPI_Bcast");
  node_index = counts[0];
  node_count = counts[1];
  node_of_rank.resize(static_cast<std::size_t>(world.size()));
  mpi::check(MPI_Allgather(&node_index, 1, MPI_INT, node_of_rank.data(), 1, MPI_INT, world), "MPI_Allgather");
  leader_of_node.assign(static_cast<std::size_t>(node_count), -1);
  for (int r = world.size() - 1; r >= 0; --r) leader_of_node[static_cast<std::size_t>(node_of_rank[r])] = r;
} catch (...) {
  // The members are already destroyed (communicators freed); MPI is still ours to end.
  if (owns_mpi) MPI_Finalize();
}

Context::~Context() { shutdown(); }

void Context::shutdown() noexcept {
  if (finalized_) return;
  // The service threads read the windows: they stop first.
  if (transport_) transport_->stop();
  transport_.reset();
  // Every rank registered the same segments in the same order (constructors are
  // collective), so freeing them newest first keeps the node collectives matched.
  while (!segments_.empty()) {
    segments_.back()->release();
    segments_.pop_back();
  }
  leaders = mpi::Comm();
  node = mpi::NodeComm();
  world = mpi::Comm();
  if (owns_mpi_) MPI_Finalize();
  finalized_ = true;
}

void Context::check_alive(const char* what) const {
  if (finalized_)
    throw RuntimeFinalized(std::string(what) + ": used after its lagoon::Runtime was destroyed (MPI is finalized)");
}

Transport* Context::transport() {
  check_alive("lagoon::Runtime's transport");
  if (!transport_ && node_count > 1) transport_ = std::make_unique<Transport>(*this);
  return transport_.get();
}

void Context::remove(SegmentState* segment) noexcept {
  for (auto it = segments_.begin(); it != segments_.end(); ++it) {
    if (*it == segment) {
      segments_.erase(it);
      return;
    }
  }
}

}  // namespace detail

Runtime::Runtime(int& argc, char**& argv) : uncaught_at_start_(std::uncaught_exceptions()) {
  bool owns = false;
  std::string note;
  init_mpi(&argc, &argv, owns, note);
  start(MPI_COMM_WORLD, owns, std::move(note));
}

Runtime::Runtime() : uncaught_at_start_(std::uncaught_exceptions()) {
  bool owns = false;
  std::string note;
  init_mpi(nullptr, nullptr, owns, note);
  start(MPI_COMM_WORLD, owns, std::move(note));
}

Runtime::Runtime(MPI_Comm comm) : uncaught_at_start_(std::uncaught_exceptions()) {
  int initialized = 0;
  mpi::check(MPI_Initialized(&initialized), "MPI_Initialized");
  if (!initialized) throw InvalidArgument("lagoon::Runtime(MPI_Comm): MPI is not initialized");
  start(comm, false, std::string());
}

void Runtime::start(MPI_Comm comm, bool owns_mpi, std::string shm_note) {
  ctx_ = std::make_shared<detail::Context>(comm, owns_mpi, std::move(shm_note));
  // Last: a constructor that threw installs nothing (no destructor would restore it).
  previous_terminate_ = std::set_terminate(terminate_job);
}

Runtime::~Runtime() {
  if (std::uncaught_exceptions() > uncaught_at_start_ && !ctx_->finalized())
    abort_job(ctx_->world.is_null() ? MPI_COMM_WORLD : ctx_->world.get(),
              "an exception is leaving the scope of lagoon::Runtime", "the error is on its way up the stack");
  ctx_->shutdown();
  std::set_terminate(previous_terminate_);
}

int Runtime::rank() const noexcept { return ctx_->world.rank(); }
int Runtime::size() const noexcept { return ctx_->world.size(); }
int Runtime::node() const noexcept { return ctx_->node_index; }
int Runtime::node_count() const noexcept { return ctx_->node_count; }
int Runtime::node_rank() const noexcept { return ctx_->node.rank(); }
int Runtime::node_size() const noexcept { return ctx_->node.size(); }

int Runtime::node_of(int world_rank) const {
  if (world_rank < 0 || world_rank >= size())
    throw InvalidArgument("lagoon::Runtime::node_of(" + std::to_string(world_rank) + "): the world has ranks 0.." +
                          std::to_string(size() - 1) + detail::on_rank());
  return ctx_->node_of_rank[static_cast<std::size_t>(world_rank)];
}

int Runtime::leader_of(int node_index) const {
  if (node_index < 0 || node_index >= node_count())
    throw InvalidArgument("lagoon::Runtime::leader_of(" + std::to_string(node_index) + "): there are " +
                          std::to_string(node_count()) + " nodes" + detail::on_rank());
  return ctx_->leader_of_node[static_cast<std::size_t>(node_index)];
}

const mpi::Comm& Runtime::world() const noexcept { return ctx_->world; }
const mpi::NodeComm& Runtime::node_comm() const noexcept { return ctx_->node; }
const mpi::Comm& Runtime::leader_comm() const noexcept { return ctx_->leaders; }
const Settings& Runtime::settings() const noexcept { return ctx_->settings; }
void Runtime::barrier() const { ctx_->world.barrier(); }

}  // namespace lagoon
