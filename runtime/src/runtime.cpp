// Runtime start-up and shutdown: MPI initialization (the shared-memory directory
// handed to Open MPI first), the world/node/leader communicators and node map, the
// clean-ups run before MPI_Finalize, and the fail-stop path.
#include "lagoon/runtime.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "context.hpp"
#include "lagoon/error.hpp"
#include "settings.hpp"

namespace lagoon {
namespace {

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

/// An exception that nothing catches calls std::terminate without unwinding the stack
/// (so ~Runtime never runs): end the job from here instead of leaving the others waiting.
[[noreturn]] void terminate_job() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized)
    detail::abort_job(MPI_COMM_WORLD, "uncaught exception", describe_exception(std::current_exception()));
  std::abort();
}

/// MPI starts once per process: a Runtime made after another one ended MPI cannot run.
void refuse_after_finalize(const char* call) {
  int finalized = 0;
  mpi::check(MPI_Finalized(&finalized), "MPI_Finalized");
  if (finalized)
    throw RuntimeFinalized(std::string(call) +
                           ": MPI was finalized already in this process (a Runtime that started MPI ends it when "
                           "it goes, and MPI cannot start twice): keep one Runtime for the whole program");
}

void init_mpi(int* argc, char*** argv, bool& owns, std::string& note) {
  refuse_after_finalize("lagoon::Runtime");
  int initialized = 0;
  mpi::check(MPI_Initialized(&initialized), "MPI_Initialized");
  if (initialized) return;
  note = detail::configure_shm_dir();
  int provided = 0;
  mpi::check(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  owns = true;
}

}  // namespace

namespace detail {

void abort_job(MPI_Comm comm, const char* why, const std::string& what) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "lagoon: %s on world rank %d (%s); calling MPI_Abort so that the job ends instead of hanging\n",
               why, rank, what.c_str());
  std::fflush(stderr);
  MPI_Abort(comm, 1);
  std::abort();
}

Context::Context(MPI_Comm parent, bool owns_mpi, std::string shm_note) try : owns_mpi_(owns_mpi) {
  world = mpi::Comm::duplicate(parent);
  settings = read_settings(world, std::move(shm_note));
  node = mpi::NodeComm::split_shared(world, settings.ranks_per_node);
  leaders = world.split(node.rank() == 0 ? 0 : MPI_UNDEFINED, world.rank());
  int counts[2] = {leaders.rank(), leaders.size()};
  mpi::bcast_value(counts, 0, node);
  node_index = counts[0];
  node_count = counts[1];
  node_of_rank.resize(static_cast<std::size_t>(world.size()));
  mpi::allgather_bytes(&node_index, sizeof node_index, node_of_rank.data(), world);
  leader_of_node.assign(static_cast<std::size_t>(node_count), -1);
  for (int r = world.size() - 1; r >= 0; --r) leader_of_node[static_cast<std::size_t>(node_of_rank[r])] = r;
} catch (...) {
  // The members are already destroyed (communicators freed); MPI is still ours to end.
  if (owns_mpi) MPI_Finalize();
}

Context::~Context() { shutdown(); }

void Context::shutdown() noexcept {
  if (finalized_) return;
  // Newest first: a service stops before the windows it reads are freed, and every
  // rank runs the collective ones in the order they were registered in.
  while (!cleanups_.empty()) {
    auto cleanup = std::move(cleanups_.back().second);
    cleanups_.pop_back();
    cleanup();
  }
  slots_.clear();
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

std::uint64_t Context::at_shutdown(Cleanup cleanup) {
  cleanups_.emplace_back(++next_cleanup_, std::move(cleanup));
  return next_cleanup_;
}

void Context::forget(std::uint64_t key) noexcept {
  for (auto it = cleanups_.begin(); it != cleanups_.end(); ++it) {
    if (it->first == key) {
      cleanups_.erase(it);
      return;
    }
  }
}

const std::shared_ptr<Context>& context_of(const Runtime& rt) noexcept { return rt.ctx_; }

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
  refuse_after_finalize("lagoon::Runtime(MPI_Comm)");
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
    detail::abort_job(ctx_->world.is_null() ? MPI_COMM_WORLD : ctx_->world.get(),
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
                          std::to_string(size() - 1));
  return ctx_->node_of_rank[static_cast<std::size_t>(world_rank)];
}

int Runtime::leader_of(int node_index) const {
  if (node_index < 0 || node_index >= node_count())
    throw InvalidArgument("lagoon::Runtime::leader_of(" + std::to_string(node_index) + "): there are " +
                          std::to_string(node_count()) + " nodes");
  return ctx_->leader_of_node[static_cast<std::size_t>(node_index)];
}

const mpi::Comm& Runtime::world() const noexcept { return ctx_->world; }
const mpi::NodeComm& Runtime::node_comm() const noexcept { return ctx_->node; }
const mpi::Comm& Runtime::leader_comm() const noexcept { return ctx_->leaders; }
const Settings& Runtime::settings() const noexcept { return ctx_->settings; }
void Runtime::barrier() const { ctx_->world.barrier(); }

}  // namespace lagoon
