// Settings from the environment: LAGOON_* variables (read on world rank 0 and
// broadcast), the shared-memory directory handed to Open MPI, huge-page detection.
#pragma once

#include <mpi.h>

#include <string>

#include "lagoon/runtime.hpp"

namespace lagoon::detail {

/// Hands LAGOON_SHM_DIR to Open MPI's shared-window component; call before MPI_Init
/// (the MCA parameter is read-only once MPI runs). Returns why it was not used, if so.
[[nodiscard]] std::string configure_shm_dir();

/// The job's settings: LAGOON_* read on rank 0 of `world` and broadcast (mpirun
/// forwards only OMPI_* variables to other nodes), the shared-memory directory of this
/// rank and whether it holds huge pages. Throws InvalidArgument on every rank for a
/// malformed value. @note collective over `world`
[[nodiscard]] Settings read_settings(MPI_Comm world, std::string shm_note);

}  // namespace lagoon::detail
