// Replicated arrays: one copy per node, made alike again by leader-to-leader
// broadcasts (publish from one root, or every rank's share after for_each).
#include "lagoon/detail/replica.hpp"

#include "context.hpp"
#include "transport.hpp"
#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/share.hpp"
#include "lagoon/error.hpp"

namespace lagoon::detail {

Replica::Replica(const Runtime& rt, std::size_t bytes, std::size_t alignment, std::string what)
    : ctx_(context_of(rt)), segment_(rt, bytes, alignment, what), what_(std::move(what)) {}

void Replica::check() const {
  if (!ctx_) throw InvalidArgument("lagoon::SharedArray: used after it was moved from (it holds nothing now)");
  segment_.check_alive();
}

std::byte* Replica::data() const {
  check();
  return segment_.data();
}

MPI_Comm Replica::world() const {
  check();
  return ctx_->world;
}

void Replica::fence() const {
  check();
  segment_.fence();
}

void Replica::publish(int root) const {
  check();
  const auto& ctx = *ctx_;
  const SameOnAllRanks same{fingerprint(&root, sizeof root), ErrorKind::invalid_argument,
                            what_ + ".publish(root): every rank must pass the same root"};
  agree(
      ctx.world,
      [&] {
        if (root < 0 || root >= ctx.world.size())
          throw InvalidArgument(what_ + ".publish(" + std::to_string(root) + "): root must be a world rank in [0, " +
                                std::to_string(ctx.world.size()) + ")");
      },
      &same);
  segment_.fence();  // the root node's writes are complete before its leader sends them
  if (ctx.node_count == 1) return;
  // The transport's service watches the other nodes (LAGOON_TIMEOUT): a node lost in the
  // middle of the broadcast ends the job with its name instead of a hang. (It needs
  // MPI_THREAD_MULTIPLE; without it, the broadcast goes on unwatched, as before.)
  if (mpi::thread_level() >= MPI_THREAD_MULTIPLE) (void)transport_of(*ctx_);
  agree(ctx.world, [&] {
    if (!ctx.leaders.is_null())
      mpi::bcast_bytes(segment_.data(), segment_.bytes(), ctx.node_of_rank[static_cast<std::size_t>(root)],
                       ctx.leaders, ctx.settings.max_message_bytes);
  });
  segment_.sync();  // the allreduce in agree ordered the leader's writes before this point
}

void Replica::exchange_shares(std::size_t count, std::size_t item_bytes) const {
  check();
  const auto& ctx = *ctx_;
  segment_.fence();
  if (ctx.node_count == 1) return;
  agree(ctx.world, [&] {
    if (ctx.leaders.is_null()) return;
    const auto ranks = static_cast<std::size_t>(ctx.world.size());
    // Consecutive ranks of one node hold consecutive shares: one broadcast per run of them.
    for (std::size_t q = 0; q < ranks;) {
      const int owner = ctx.node_of_rank[q];
      std::size_t last = q;
      while (last + 1 < ranks && ctx.node_of_rank[last + 1] == owner) ++last;
      const std::size_t begin = share_bounds(count, ranks, q).first;
      const std::size_t end = share_bounds(count, ranks, last).second;
      mpi::bcast_bytes(segment_.data() + begin * item_bytes, (end - begin) * item_bytes, owner, ctx.leaders,
                       ctx.settings.max_message_bytes);
      q = last + 1;
    }
  });
  segment_.sync();
}

}  // namespace lagoon::detail
