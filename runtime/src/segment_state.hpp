// What a Segment owns, kept at a stable address so that the Runtime's clean-up can
// free it before MPI_Finalize if the Segment outlives the Runtime.
#pragma once

#include <memory>
#include <string>

#include "context.hpp"
#include "lagoon/mpi.hpp"

namespace lagoon::detail {

class SegmentState {
 public:
  /// Frees the window (collective over the node); the data pointer becomes null.
  void release() noexcept {
    window = mpi::SharedWindow();
    data = nullptr;
  }

  std::shared_ptr<Context> ctx;
  mpi::SharedWindow window;
  std::byte* data = nullptr;
  std::size_t bytes = 0;
  std::string what;
  std::uint64_t cleanup = 0;  ///< the Runtime's key for release()
};

}  // namespace lagoon::detail
