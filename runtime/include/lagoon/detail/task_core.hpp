// The type-free core of TaskPool: each node's queue and table of futures in a node
// arena, the registry of defined tasks, and the scheduler that ranks waiting inside
// lagoon run (local queue first, then stealing from other nodes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lagoon/detail/store_core.hpp"
#include "lagoon/error.hpp"
#include "lagoon/runtime.hpp"

namespace lagoon {
class ObjectStore;
}

namespace lagoon::detail {

/// Where a future's record lives: the node of the rank that submitted its task.
struct FutureKey {
  std::uint32_t pool = 0;  ///< the pool's id (0: an empty future)
  std::int32_t home = -1;
  std::uint64_t serial = 0;
  friend bool operator==(const FutureKey&, const FutureKey&) = default;
};

enum class FutureState : std::uint32_t { pending = 0, done, failed };

/// A future's record, as a reader gets it.
struct FutureStatus {
  FutureState state = FutureState::pending;
  ErrorKind error = ErrorKind::generic;  ///< failed: the kind the task threw
  std::uint32_t task = 0;                ///< which task (for messages)
  int rank = -1;                         ///< the world rank that ran the task
  int node = -1;
  RefData ref;                  ///< a large result, in the store of the node that ran it
  std::vector<std::byte> data;  ///< done: a small result's wire bytes; failed: the message
};

/// One argument of a task, as it travels.
enum class ArgKind : std::uint8_t { value = 0, ref, future };

class PoolState;
class PoolCore;
class Runner;

/// Runs one task: decodes its arguments (resolving refs and futures through the
/// runner), calls the function and hands its result to the runner.
using Invoker = std::function<void(Runner&, std::span<const std::byte>)>;

/// What a running task's invoker talks to.
class Runner {
 public:
  explicit Runner(PoolCore& pool) : pool_(pool) {}
  [[nodiscard]] PoolCore& pool() noexcept { return pool_; }
  /// The task's result: its wire bytes (kept inline when small), or a ref to it in
  /// this node's store.
  void result(std::vector<std::byte> wire) { wire_ = std::move(wire); }
  void result_ref(const RefData& ref) { ref_ = ref; }

 private:
  friend class PoolCore;
  PoolCore& pool_;
  std::vector<std::byte> wire_;
  RefData ref_;
};

class PoolCore {
 public:
  /// Results larger than this go to the store of the node that ran the task.
  static constexpr std::size_t kInlineResult = 4096;
  /// Tasks whose ref arguments total less than this may be stolen by another node.
  static constexpr std::size_t kStealableBytes = 64 * 1024;

  /// A pool on every node, with an arena of `bytes` per node for its queue and futures.
  /// @note collective over the world
  PoolCore(const Runtime& rt, ObjectStore& store, std::size_t bytes);
  /// Runs nothing more; waits until no rank has a request for it in flight, then frees
  /// the arena. @note collective over the world
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  [[nodiscard]] std::uint32_t id() const noexcept;
  [[nodiscard]] int node() const noexcept;
  [[nodiscard]] int node_count() const noexcept;

  /// Registers a task; every rank defines the same tasks in the same order (checked
  /// on every rank: InvalidArgument). Returns its index. @note collective over the world
  std::uint32_t define(Invoker invoker, std::string signature);
  /// "task #i (signature)", for messages.
  [[nodiscard]] std::string task_name(std::uint32_t task) const;

  /// Enqueues task `task` with `args` on `node` (this node: in shared memory, no MPI
  /// message; another: through its service). `deps` are the futures it waits for;
  /// `stealable`: another node may run it. Returns its future.
  [[nodiscard]] FutureKey submit(std::uint32_t task, int node, std::span<const FutureKey> deps, bool stealable,
                                 std::span<const std::byte> args);
  /// The future's record now (a call to its home node when that is another node).
  [[nodiscard]] FutureStatus status(const FutureKey& key);
  /// Waits as await() does, then frees the future's record on its home node and returns
  /// its outcome (a second take, of this key or a copy, is ObjectFreed). A large
  /// result's object is still in the store: release() it once read.
  [[nodiscard]] FutureStatus take(const FutureKey& key);
  /// Frees a large result's object in the store, from any rank of any node.
  void release(const RefData& result);
  /// The futures whose records this node holds (not yet taken).
  [[nodiscard]] std::uint64_t held() const;
  /// Waits until the future is not pending, running queued tasks meanwhile.
  [[nodiscard]] FutureStatus await(const FutureKey& key);
  /// Indices of the first `n` of `keys` that are not pending, waiting as await does.
  [[nodiscard]] std::vector<std::size_t> wait_any(std::span<const FutureKey> keys, std::size_t n);
  /// Runs one queued task of this node, or one stolen from another node; false if
  /// there was none that could run.
  bool run_one();
  /// run_one() inside a wait: on this thread while its stack has room, else on a helper
  /// thread with a fresh stack (nested waits are not bounded by the program's recursion).
  bool run_nested();
  /// Returns once every task submitted before it, on any rank, has run; runs tasks
  /// meanwhile. @note collective over the world
  void join();

  [[nodiscard]] ObjectStore& store() noexcept;
  /// The pool of id `pool` in this process; InvalidArgument when it is gone.
  [[nodiscard]] static PoolCore& find(std::uint32_t pool);
  /// Throws what a failed future's task threw: the same lagoon::Error subclass, or
  /// TaskError for any other exception, naming the task, its rank and node.
  [[noreturn]] void rethrow(const FutureStatus& status) const;

 private:
  std::unique_ptr<PoolState> state_;
};

}  // namespace lagoon::detail
