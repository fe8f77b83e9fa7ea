// What every object served across nodes shares (a GlobalArray's block, a store's or a
// map's arena): its context, its id (the same on every rank), its registration with
// the transport, its orderly end, and the loop that asks every node in turn.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "arena.hpp"
#include "context.hpp"
#include "transport.hpp"

namespace lagoon::detail {

class Served : public Handler {
 public:
  /// Gives the object the next id and, on a job of several nodes, registers it with the
  /// transport, then waits for every rank, so that no request reaches a node before
  /// that node can answer it. The Runtime stops serving it at shutdown if the object
  /// outlives it. @note collective over the world
  void open();
  /// Waits until no rank has a request for it in flight (flush, barrier), then
  /// unregisters it. Failures are reported on stderr (this runs in destructors).
  /// Does nothing the second time. @note collective over the world
  void close() noexcept;

  /// A call to this object on `node`, answered into a new buffer. Messages name the
  /// object and the op (`op_label(op)`, found next to the op's enum).
  template <class Op>
  [[nodiscard]] std::vector<std::byte> call(int node, Op op, std::span<const std::byte> args = {},
                                            std::span<const std::byte> body = {}) const {
    return transport->call(node, Ask{id, static_cast<std::uint32_t>(op), args, body}, What{what, op_label(op)});
  }
  /// `local()` for this node, `remote(node)` for each other node, in node order.
  template <class Local, class Remote>
  void each_node(Local&& local, Remote&& remote) const {
    for (int n = 0; n < ctx->node_count; ++n) {
      if (n == node)
        local();
      else
        remote(n);
    }
  }

  std::shared_ptr<Context> ctx;
  Transport* transport = nullptr;  ///< null on one node
  std::uint32_t id = 0;
  int node = 0;
  std::string what;  ///< names the object in messages

 private:
  std::uint64_t cleanup_ = 0;
  bool serving_ = false;
};

/// A served object whose node part is an arena (ObjectStore, SharedMap).
class ArenaServed : public Served {
 public:
  /// The smallest arena: room for the heap's own bookkeeping and the tables.
  static constexpr std::uint64_t kMinArenaBytes = 64 * 1024;
  /// Agrees on the arena's size (`bytes`; 0 takes `setting`, else `fallback`, as world
  /// rank 0 sees them) and the archive format, and makes the arena (the node leader runs
  /// `create`). The caller finds its tables in it, then calls open(): a request may
  /// come in at once. @note collective over the world
  void open_arena(const Runtime& rt, std::size_t bytes, std::size_t setting, std::size_t fallback,
                  const char* setting_name, const std::function<void(Heap&)>& create);
  /// close(), then frees the arena unless the Runtime is gone (its clean-up did).
  /// @note collective over the world
  void close_arena() noexcept;

  Arena arena;
  std::string capacity_source;  ///< where the arena's size came from, for messages
};

}  // namespace lagoon::detail
