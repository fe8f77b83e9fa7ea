// Error agreement for collectives: one allreduce finds whether (and where) any
// rank failed or disagrees; the first failure is broadcast and thrown everywhere.
#include "lagoon/detail/agree.hpp"

#include <new>
#include <vector>

#include "lagoon/mpi.hpp"

namespace lagoon::detail {
namespace {

std::pair<ErrorKind, std::string> describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  } catch (const std::bad_alloc& e) {
    return {ErrorKind::out_of_memory, std::string("allocation failed: ") + e.what() + on_rank()};
  } catch (const std::exception& e) {
    return {ErrorKind::generic, e.what() + on_rank()};
  } catch (...) {
    return {ErrorKind::generic, "unknown exception" + on_rank()};
  }
}

}  // namespace

void agree_on(MPI_Comm comm, std::exception_ptr local, const SameOnAllRanks* same) {
  int rank = 0;
  int size = 0;
  mpi::check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  mpi::check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  const std::uint64_t hash = same ? same->fingerprint : 0;
  // MAX of (size - rank) finds the lowest failing rank; MAX of h and of ~h gives max and min.
  std::uint64_t votes[3] = {local ? static_cast<std::uint64_t>(size - rank) : 0, hash, ~hash};
  mpi::check(MPI_Allreduce(MPI_IN_PLACE, votes, 3, MPI_UINT64_T, MPI_MAX, comm), "MPI_Allreduce");

  if (votes[0] == 0) {
    if (same && votes[1] != ~votes[2]) throw_error(same->kind, same->what + " (ranks passed different values)");
    return;
  }
  const int root = size - static_cast<int>(votes[0]);
  std::pair<ErrorKind, std::string> error;
  int world_root = 0;
  if (rank == root) {
    error = describe(local);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_root);
  }
  int header[3] = {static_cast<int>(error.first), static_cast<int>(error.second.size()), world_root};
  mpi::check(MPI_Bcast(header, 3, MPI_INT, root, comm), "MPI_Bcast");
  std::vector<char> text(static_cast<std::size_t>(header[1]));
  if (rank == root) text.assign(error.second.begin(), error.second.end());
  mpi::check(MPI_Bcast(text.data(), header[1], MPI_CHAR, root, comm), "MPI_Bcast");

  if (rank == root) {
    try {
      std::rethrow_exception(local);
    } catch (const Error&) {
      throw;  // keep the original object (an MpiError keeps its code)
    } catch (...) {
      throw_error(error.first, error.second);  // the same lagoon type the other ranks throw
    }
  }
  throw_error(static_cast<ErrorKind>(header[0]),
              std::string(text.begin(), text.end()) + " [raised on world rank " + std::to_string(header[2]) +
                  ", thrown on every rank of the collective]");
}

}  // namespace lagoon::detail
