// StoreStats: what ObjectStore::stats() reports of one node's arena.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lagoon {

/// One node's arena, as ObjectStore::stats() reports it.
struct StoreStats {
  int node = 0;
  std::size_t capacity = 0;      ///< bytes of the node's arena
  std::size_t used = 0;          ///< bytes allocated (objects, cached copies, the table)
  std::size_t objects = 0;       ///< objects this node owns (put by its ranks, not freed)
  std::size_t object_bytes = 0;  ///< their bytes
  std::size_t cached = 0;        ///< copies of other nodes' objects held here
  std::size_t cached_bytes = 0;  ///< their bytes
  std::uint64_t fetches = 0;     ///< objects this node brought over from another node
  std::uint64_t cache_hits = 0;  ///< gets of another node's object answered by the copy here
  std::uint64_t evictions = 0;   ///< cached copies dropped to make room
  std::size_t spilled_objects = 0;  ///< objects of this node's own now on disk (LAGOON_SPILL_DIR), not in the arena
  std::size_t spilled_bytes = 0;    ///< their bytes
  std::uint64_t spills = 0;         ///< objects written to disk to make room (all along)
  std::uint64_t restores = 0;       ///< spilled objects read back into the arena by a get (all along)
};

}  // namespace lagoon
