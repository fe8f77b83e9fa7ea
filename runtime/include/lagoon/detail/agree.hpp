// Agreement on errors in collectives: a failure on any rank becomes the same
// exception on every rank, so no rank is left waiting in the next collective.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include "lagoon/detail/hash.hpp"
#include "lagoon/error.hpp"

namespace lagoon::detail {

/// A value every rank must pass alike (a shape, a root): its hash, and the error
/// to throw on every rank when the hashes differ.
struct SameOnAllRanks {
  std::uint64_t fingerprint = 0;
  ErrorKind kind = ErrorKind::invalid_argument;
  std::string what;
};

/// The core of `agree`: `local` is this rank's exception (or null). One
/// MPI_Allreduce when all went well; on failure, the lowest failing rank's
/// error is broadcast and thrown on every rank. @note collective over `comm`
void agree_on(MPI_Comm comm, std::exception_ptr local, const SameOnAllRanks* same = nullptr);

/// Runs `step()` on every rank of `comm`; if it throws on any rank, every rank
/// throws that error (the lowest failing rank's), as its own lagoon::Error subclass.
/// @note collective over `comm`
template <class F>
void agree(MPI_Comm comm, F&& step, const SameOnAllRanks* same = nullptr) {
  std::exception_ptr local;
  try {
    std::forward<F>(step)();
  } catch (...) {
    local = std::current_exception();
  }
  agree_on(comm, local, same);
}

}  // namespace lagoon::detail
