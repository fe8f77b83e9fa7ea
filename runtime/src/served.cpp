// Served objects: registration with the transport and the orderly end of serving.
#include "served.hpp"

#include <cstdio>

#include "lagoon/detail/agree.hpp"
#include "lagoon/mpi.hpp"

namespace lagoon::detail {

void Served::open() {
  node = ctx->node_index;
  transport = transport_of(*ctx);
  id = ctx->next_object_id();
  if (!transport) return;
  transport->add(id, this);
  serving_ = true;
  cleanup_ = ctx->at_shutdown([this] { close(); });
  ctx->world.barrier();  // no rank sends a request before every node can answer it
}

void Served::close() noexcept {
  if (!serving_) return;
  serving_ = false;
  ctx->forget(cleanup_);
  if (!ctx->finalized()) {
    try {
      transport->flush();     // this rank's posts are carried out
      ctx->world.barrier();   // ... and every rank's: nothing for this object is in flight
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lagoon: %s at destruction: %s\n", what.c_str(), e.what());
    }
  }
  transport->remove(id);  // returns once the service is not in the handler
}

void ArenaServed::open_arena(const Runtime& rt, std::size_t bytes, std::size_t setting, std::size_t fallback,
                             const char* setting_name, const std::function<void(Heap&)>& create) {
  ctx = context_of(rt);
  ctx->check_alive(what.c_str());
  const SameOnAllRanks same = arena_agreement(bytes, what);
  std::uint64_t capacity = bytes;
  agree(ctx->world, [] {}, &same);
  capacity_source = "the constructor";
  if (bytes == 0) {
    // Rank 0 decides: the fallback may depend on the node's memory.
    if (rt.rank() == 0) capacity = setting != 0 ? setting : fallback;
    mpi::bcast_value(capacity, 0, ctx->world);
    capacity_source = setting != 0 ? setting_name : "the default";
  }
  // Every rank knows the capacity here: too small a one is refused on all of them.
  if (capacity < kMinArenaBytes)
    throw InvalidArgument(what + ": an arena of " + std::to_string(capacity) + " bytes (from " + capacity_source +
                          ") is too small to hold its heap and tables: at least " + std::to_string(kMinArenaBytes) +
                          " bytes" + (bytes == 0 && setting != 0 ? std::string(" (") + setting_name + ")" : std::string()));
  arena = Arena(rt, static_cast<std::size_t>(capacity), what, create);
}

void ArenaServed::close_arena() noexcept {
  close();
  if (!ctx->finalized()) arena.release();
}

}  // namespace lagoon::detail
