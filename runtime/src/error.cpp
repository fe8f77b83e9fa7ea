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
  const Verbatim as_is;
  switch (kind) {
    case ErrorKind::mpi: throw MpiError(as_is, what);
    case ErrorKind::out_of_memory: throw OutOfMemory(as_is, what);
    case ErrorKind::shape: throw ShapeError(as_is, what);
    case ErrorKind::type_mismatch: throw TypeMismatch(as_is, what);
    case ErrorKind::object_freed: throw ObjectFreed(as_is, what);
    case ErrorKind::deserialize: throw DeserializeError(as_is, what);
    case ErrorKind::format: throw FormatError(as_is, what);
    case ErrorKind::invalid_argument: throw InvalidArgument(as_is, what);
    case ErrorKind::runtime_finalized: throw RuntimeFinalized(as_is, what);
    case ErrorKind::transport: throw TransportError(as_is, what);
    case ErrorKind::task: throw TaskError(as_is, what);
    case ErrorKind::generic: break;
  }
  throw Error(as_is, what, ErrorKind::generic);
}

}  // namespace lagoon::detail
