// Rank suffixes for messages, and rebuilding an exception from its kind
// (so that an error raised on one rank can be thrown, as itself, on all).
#include "lagoon/error.hpp"

#include <mpi.h>

namespace lagoon::detail {

std::string on_rank() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return {};
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return " (world rank " + std::to_string(rank) + ")";
}

void throw_error(ErrorKind kind, const std::string& what) {
  switch (kind) {
    case ErrorKind::mpi: throw MpiError(what);
    case ErrorKind::out_of_memory: throw OutOfMemory(what);
    case ErrorKind::shape: throw ShapeError(what);
    case ErrorKind::type_mismatch: throw TypeMismatch(what);
    case ErrorKind::object_freed: throw ObjectFreed(what);
    case ErrorKind::deserialize: throw DeserializeError(what);
    case ErrorKind::format: throw FormatError(what);
    case ErrorKind::invalid_argument: throw InvalidArgument(what);
    case ErrorKind::runtime_finalized: throw RuntimeFinalized(what);
    case ErrorKind::generic: break;
  }
  throw Error(what);
}

}  // namespace lagoon::detail
