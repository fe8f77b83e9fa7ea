// TaskPool's core: each node's queue of tasks and table of futures, in a node arena
// that the node's ranks share (a task that stays on its node costs no MPI message),
// the service verbs through which other nodes enqueue, complete, ask and steal (the
// service only moves records: it never runs a task), and the scheduler of the ranks
// that wait inside lagoon.
//
// A future's record lives on its home node: the node of the rank that submitted the
// task. The rank that runs the task writes the outcome there: in shared memory when
// home is its own node, else with a call to home's service. A task with Future
// arguments is placed on the home node of those futures, so its dependencies are
// checked in shared memory; it is not stealable.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/task_core.hpp"
#include "lagoon/object_store.hpp"
#include "served.hpp"

namespace lagoon::detail {
namespace {

using Clock = std::chrono::steady_clock;

/// A hint to the core that this thread spins.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Holds a node table's lock: a word in the node arena, taken by test-and-test-and-set.
/// The node's ranks hold it for a fraction of a microsecond (no MPI call and no user
/// code runs under it), far less than a futex sleep and wake between processes costs;
/// a waiter spins, then yields its core (a holder that was preempted needs it), then
/// sleeps.
class Lock {
 public:
  explicit Lock(std::atomic<std::uint32_t>& word) : word_(word) {
    for (unsigned spins = 0;; ++spins) {
      if (word_.load(std::memory_order_relaxed) == 0 && word_.exchange(1, std::memory_order_acquire) == 0) return;
      if (spins < 256)
        cpu_relax();
      else if (spins < 4096)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  ~Lock() { word_.store(0, std::memory_order_release); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  std::atomic<std::uint32_t>& word_;
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
              "the node tables' atomics live in shared memory: they must be lock-free");

/// A task as it travels (followed by its payload: the FutureKeys it depends on, then
/// its arguments).
struct TaskHead {
  FutureKey future;
  std::uint32_t task = 0;
  std::int32_t origin = -1;  ///< the submitting world rank
  std::uint32_t deps = 0;
  std::uint8_t stealable = 0;
  std::uint8_t checking = 0;  ///< a rank is asking other nodes about its dependencies
  std::uint16_t reserved = 0;
  std::uint64_t payload_bytes = 0;
};

/// The most payload bytes one steal hands over beyond its first task.
constexpr std::size_t kStealBytes = 64 * 1024;

/// Payloads up to this size ride inside the queue entry (no allocation per task).
constexpr std::size_t kInlineArgs = 80;

/// A task in a node's queue.
struct QueuedTask {
  TaskHead head;
  std::uint64_t payload = 0;  ///< arena handle of a payload larger than kInlineArgs
  std::byte inline_args[kInlineArgs];
};

/// A future's outcome without its bytes: what a record holds, `complete` carries and
/// `query` answers.
struct OutcomeHead {
  FutureState state = FutureState::pending;
  std::int32_t error = 0;
  std::uint32_t task = 0;
  std::int32_t rank = -1;
  std::int32_t node = -1;
  std::uint32_t reserved = 0;
  RefData ref;

  static OutcomeHead of(const FutureStatus& st) {
    return {st.state, static_cast<std::int32_t>(st.error), st.task, st.rank, st.node, 0, st.ref};
  }
  [[nodiscard]] FutureStatus with(std::vector<std::byte> data) const {
    return {state, static_cast<ErrorKind>(error), task, rank, node, ref, std::move(data)};
  }
};

/// Results (or messages) up to this size ride inside the record.
constexpr std::size_t kInlineData = 48;
constexpr std::uint32_t kRecordsPerChunk = 1024;
constexpr std::uint32_t kMaxChunks = 8192;  ///< 8M futures held on a node at once
constexpr std::uint32_t kNoRecord = ~std::uint32_t{0};
/// A stamp's state for a record on the free list (after FutureState's values).
constexpr std::uint32_t kFreeState = 3;

/// A future's serial: its record's index and the record's generation, which changes
/// when the record is freed, so a taken future is told from its record's next use.
constexpr std::uint64_t serial_of(std::uint32_t index, std::uint32_t generation) {
  return std::uint64_t{generation} << 32 | index;
}
constexpr std::uint32_t index_of(std::uint64_t serial) { return static_cast<std::uint32_t>(serial); }
constexpr std::uint32_t generation_of(std::uint64_t stamp) { return static_cast<std::uint32_t>(stamp >> 32); }
constexpr std::uint32_t state_of(std::uint64_t stamp) { return static_cast<std::uint32_t>(stamp); }

/// One future's record, in its home node's arena, in chunks of kRecordsPerChunk that
/// never move (a reader finds a record without the lock), reused through a free list
/// once taken.
struct FutureRecord {
  /// generation << 32 | state, stored last (release) by a writer: a reader that sees a
  /// state other than pending sees the outcome written before it.
  std::atomic<std::uint64_t> stamp{0};
  OutcomeHead head;
  std::uint32_t next_free = kNoRecord;
  std::uint32_t reserved = 0;
  std::uint64_t data = 0;  ///< arena handle of data larger than kInlineData
  std::uint64_t data_bytes = 0;
  std::byte inline_data[kInlineData];
};

/// A node's tables: the queue of tasks (a ring in the arena that doubles when full; the
/// node's ranks take the newest entry, thieves the oldest) and the records of the
/// futures whose home the node is.
struct PoolTable {
  std::atomic<std::uint32_t> lock{0};
  std::uint32_t free_head = kNoRecord;
  std::uint32_t records = 0;  ///< made so far
  std::atomic<std::uint32_t> chunk_count{0};
  std::uint64_t held = 0;  ///< records in use
  std::uint64_t ring = 0;  ///< arena handle of the queue's entries
  std::uint64_t capacity = 0;
  std::uint64_t first = 0;  ///< the oldest entry's position in the ring
  std::uint64_t queued = 0;
  std::uint64_t chunks[kMaxChunks] = {};
};

/// What a pool asks of another node's pool. Its service only moves records.
enum class PoolOp : std::uint32_t {
  enqueue = 1,  ///< body: a TaskHead and its payload; answer: empty
  complete,     ///< args: CompleteArgs; body: the result's wire bytes or the message; answer: empty
  query,        ///< args: the future's serial; answer: an OutcomeHead and its data
  steal,        ///< answer: up to half the stealable tasks, each a TaskHead and its payload; or nothing
  take,         ///< args: the future's serial; answer: as query, and the record is freed
};

/// The op's name, for messages (Served::call).
constexpr const char* op_label(PoolOp op) {
  switch (op) {
    case PoolOp::enqueue: return "submit (enqueue)";
    case PoolOp::complete: return "a task's result (complete)";
    case PoolOp::query: return "a future's state (query)";
    case PoolOp::steal: return "steal";
    case PoolOp::take: return "take";
  }
  return "?";
}

struct CompleteArgs {
  std::uint64_t serial = 0;
  OutcomeHead outcome;
};

constexpr const char* kTableName = "lagoon.pool";
constexpr std::size_t kDefaultBytes = std::size_t{64} << 20;

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
/// The pools alive in this process, by id: what a Future (a plain value) finds its pool by.
std::map<std::uint32_t, PoolCore*>& registry() {
  static std::map<std::uint32_t, PoolCore*> pools;
  return pools;
}

/// A waiting rank's pause when there was nothing to run: it spins for the first 50 us
/// (a result another rank of the node is computing comes in microseconds, a system
/// call costs a few), yields the core until 5 ms (the node's service thread, which
/// shares the core under mpirun's binding, must run to take a task or a result from
/// another node), then sleeps a twentieth of the wait so far, up to 500 us.
class Backoff {
 public:
  void reset() noexcept { since_ = {}; }
  void wait() {
    const auto now = Clock::now();
    if (since_ == Clock::time_point{}) since_ = now;
    const auto waited = now - since_;
    if (waited < std::chrono::microseconds(50)) {  // spin: a system call costs more here
      for (int i = 0; i < 64; ++i) cpu_relax();
      return;
    }
    if (waited < std::chrono::milliseconds(5)) {
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(waited / 20, std::chrono::microseconds(500)));
  }

 private:
  Clock::time_point since_{};
};

template <class T>
std::span<const std::byte> bytes_of(const T& value) {
  return std::as_bytes(std::span<const T, 1>(&value, 1));
}

/// An OutcomeHead and its data, as query and take answer.
FutureStatus parse_outcome(const std::vector<std::byte>& answer) {
  OutcomeHead head;
  if (answer.size() < sizeof head) throw TransportError("lagoon::TaskPool: a malformed answer about a future");
  std::memcpy(&head, answer.data(), sizeof head);
  return head.with({answer.begin() + static_cast<std::ptrdiff_t>(sizeof head), answer.end()});
}

}  // namespace

class PoolState final : public ArenaServed {
 public:
  void serve(const Request& request, Transport& t) override {
    switch (static_cast<PoolOp>(request.header.op)) {
      case PoolOp::enqueue: {
        std::vector<std::byte> body(request.header.body_bytes);
        t.receive_body(request, std::span<std::byte>(body));
        TaskHead head;
        if (body.size() < sizeof head) throw TransportError(what + ": a malformed task");
        std::memcpy(&head, body.data(), sizeof head);
        const Lock lock(table->lock);
        push_locked(head, std::span<const std::byte>(body).subspan(sizeof head));
        t.answer(request, {});
        return;
      }
      case PoolOp::complete: {
        const auto args = request.args_as<CompleteArgs>();
        std::vector<std::byte> body(request.header.body_bytes);
        t.receive_body(request, std::span<std::byte>(body));
        write(args.serial, args.outcome.with(std::move(body)));
        t.answer(request, {});
        return;
      }
      case PoolOp::query:
      case PoolOp::take: {
        const auto serial = request.args_as<std::uint64_t>();
        const FutureStatus st = static_cast<PoolOp>(request.header.op) == PoolOp::take ? take(serial) : read(serial);
        const OutcomeHead head = OutcomeHead::of(st);
        std::vector<std::byte> answer(sizeof head + st.data.size());
        std::memcpy(answer.data(), &head, sizeof head);
        if (!st.data.empty()) std::memcpy(answer.data() + sizeof head, st.data.data(), st.data.size());
        t.answer(request, answer);
        return;
      }
      case PoolOp::steal: {
        std::vector<std::byte> task;
        steal(task);
        t.answer(request, task);
        return;
      }
    }
    throw TransportError(what + ": an unknown request (" + std::to_string(request.header.op) + ")");
  }

  // ---- the queue; every function here needs the lock held ----

  /// The queue's entry `i`, counted from the oldest.
  [[nodiscard]] QueuedTask& entry(std::uint64_t i) const {
    auto* entries = reinterpret_cast<QueuedTask*>(arena.address(table->ring));
    return entries[(table->first + i) % table->capacity];
  }

  [[nodiscard]] std::span<const std::byte> payload_of(const QueuedTask& e) const {
    const std::byte* p = e.head.payload_bytes <= kInlineArgs ? e.inline_args : arena.address(e.payload);
    return {p, e.head.payload_bytes};
  }

  /// The dependencies of a queued task.
  [[nodiscard]] std::vector<FutureKey> deps_of(const QueuedTask& e) const {
    std::vector<FutureKey> deps(e.head.deps);
    if (e.head.deps) std::memcpy(deps.data(), payload_of(e).data(), e.head.deps * sizeof(FutureKey));
    return deps;
  }

  /// Queues a task, its payload copied into the entry or the arena.
  void push_locked(const TaskHead& head, std::span<const std::byte> payload) {
    if (table->queued == table->capacity) grow_locked();
    QueuedTask e;
    e.head = head;
    e.head.payload_bytes = payload.size();
    e.head.checking = 0;
    if (payload.size() > kInlineArgs) {
      std::byte* at = arena.allocate(payload.size());
      if (at == nullptr) throw full("a task's arguments", payload.size());
      std::memcpy(at, payload.data(), payload.size());
      e.payload = arena.handle(at);
    } else if (!payload.empty()) {
      std::memcpy(e.inline_args, payload.data(), payload.size());
    }
    entry(table->queued) = e;
    ++table->queued;
  }

  /// Doubles the ring (the entries keep their order, the oldest first).
  void grow_locked() {
    const std::uint64_t capacity = table->capacity ? table->capacity * 2 : 256;
    std::byte* at = arena.allocate(capacity * sizeof(QueuedTask));
    if (at == nullptr) throw full("its queue", capacity * sizeof(QueuedTask));
    auto* fresh = reinterpret_cast<QueuedTask*>(at);
    for (std::uint64_t i = 0; i < table->queued; ++i) fresh[i] = entry(i);
    if (table->ring) arena.deallocate(arena.address(table->ring));
    table->ring = arena.handle(at);
    table->capacity = capacity;
    table->first = 0;
  }

  /// Takes entry `i` out of the queue; returns its payload.
  std::vector<std::byte> take_locked(std::uint64_t i, TaskHead& head) {
    QueuedTask& e = entry(i);
    head = e.head;
    const auto p = payload_of(e);
    std::vector<std::byte> payload(p.begin(), p.end());
    if (e.head.payload_bytes > kInlineArgs) arena.deallocate(arena.address(e.payload));
    // Close the gap from the nearer end: the oldest (a thief's) and the newest (the
    // node's own ranks') move nothing.
    if (i < table->queued / 2) {
      for (std::uint64_t k = i; k > 0; --k) entry(k) = entry(k - 1);
      table->first = (table->first + 1) % table->capacity;
    } else {
      for (std::uint64_t k = i; k + 1 < table->queued; ++k) entry(k) = entry(k + 1);
    }
    --table->queued;
    return payload;
  }

  /// Half of the stealable tasks (at least one) for another node, the oldest first (the
  /// node's own ranks take the newest), each a TaskHead and its payload; up to 64 KiB of
  /// payloads beyond the first. Empty when there is none. Taking half, not one, keeps
  /// the number of steals logarithmic in the imbalance.
  void steal(std::vector<std::byte>& out) {
    const Lock lock(table->lock);
    std::uint64_t stealable = 0;
    for (std::uint64_t i = 0; i < table->queued; ++i)
      if (entry(i).head.stealable && entry(i).head.deps == 0) ++stealable;
    const std::uint64_t wanted = (stealable + 1) / 2;
    std::uint64_t taken = 0;
    for (std::uint64_t i = 0; i < table->queued && taken < wanted;) {
      const QueuedTask& e = entry(i);
      if (!e.head.stealable || e.head.deps != 0) {
        ++i;
        continue;
      }
      if (taken > 0 && out.size() + e.head.payload_bytes > kStealBytes) return;
      TaskHead head;
      const auto payload = take_locked(i, head);  // entry i is now the next one
      const std::size_t at = out.size();
      out.resize(at + sizeof head + payload.size());
      std::memcpy(out.data() + at, &head, sizeof head);
      if (!payload.empty()) std::memcpy(out.data() + at + sizeof head, payload.data(), payload.size());
      ++taken;
    }
  }

  // ---- the records of futures ----

  /// Record `index`, or null if it was never made. Needs no lock: chunks never move.
  [[nodiscard]] FutureRecord* record(std::uint32_t index) const {
    const std::uint32_t chunk = index / kRecordsPerChunk;
    if (chunk >= table->chunk_count.load(std::memory_order_acquire)) return nullptr;
    return reinterpret_cast<FutureRecord*>(arena.address(table->chunks[chunk])) + index % kRecordsPerChunk;
  }

  /// The record of `serial` and its stamp; ObjectFreed once the future was taken.
  FutureRecord& record_of(std::uint64_t serial, std::uint64_t& stamp) const {
    FutureRecord* r = record(index_of(serial));
    if (r == nullptr)
      throw InvalidArgument(what + ": no future " + std::to_string(serial) + " on node " + std::to_string(node) +
                            " (a corrupt or foreign future?)");
    stamp = r->stamp.load(std::memory_order_acquire);
    if (generation_of(stamp) != generation_of(serial) || state_of(stamp) == kFreeState)
      throw ObjectFreed(what + ": future " + std::to_string(serial) + " of node " + std::to_string(node) +
                        " was taken (Future::take): its record and result are gone");
    return *r;
  }

  /// A new pending record for a run of `task`. Needs the lock. Returns its serial.
  std::uint64_t open_record_locked(std::uint32_t task) {
    std::uint32_t index = table->free_head;
    if (index != kNoRecord) {
      table->free_head = record(index)->next_free;
    } else {
      if (table->records % kRecordsPerChunk == 0) {
        const std::uint32_t chunk = table->records / kRecordsPerChunk;
        const std::size_t bytes = kRecordsPerChunk * sizeof(FutureRecord);
        std::byte* at = chunk < kMaxChunks ? arena.allocate(bytes) : nullptr;
        if (at == nullptr) throw full("more futures (take() the ones you are done with)", bytes);
        auto* fresh = reinterpret_cast<FutureRecord*>(at);
        for (std::uint32_t k = 0; k < kRecordsPerChunk; ++k) new (fresh + k) FutureRecord();
        table->chunks[chunk] = arena.handle(at);
        table->chunk_count.store(chunk + 1, std::memory_order_release);
      }
      index = table->records++;
    }
    FutureRecord& r = *record(index);
    std::uint32_t generation = generation_of(r.stamp.load(std::memory_order_relaxed)) + 1;
    if (generation == 0) generation = 1;  // 0 is the generation of a record never used
    r.head = OutcomeHead{};
    r.head.task = task;
    r.data_bytes = 0;
    r.next_free = kNoRecord;
    r.stamp.store(serial_of(0, generation) | static_cast<std::uint32_t>(FutureState::pending),
                  std::memory_order_release);
    ++table->held;
    return serial_of(index, generation);
  }

  /// Puts record `index` (stamp `stamp`) on the free list. Needs the lock.
  void free_locked(std::uint32_t index, std::uint64_t stamp) {
    FutureRecord& r = *record(index);
    if (r.data_bytes > kInlineData) arena.deallocate(arena.address(r.data));
    r.data_bytes = 0;
    r.stamp.store(serial_of(0, generation_of(stamp)) | kFreeState, std::memory_order_release);
    r.next_free = table->free_head;
    table->free_head = index;
    --table->held;
  }

  /// Whether the record of `serial` is no longer pending (taken counts: the task that
  /// waits for it runs and reports the error). Needs no lock.
  [[nodiscard]] bool settled(std::uint64_t serial) const {
    const FutureRecord* r = record(index_of(serial));
    if (r == nullptr) return true;
    const std::uint64_t stamp = r->stamp.load(std::memory_order_acquire);
    return generation_of(stamp) != generation_of(serial) ||
           state_of(stamp) != static_cast<std::uint32_t>(FutureState::pending);
  }

  /// Writes a task's outcome into its pending record.
  void write(std::uint64_t serial, const FutureStatus& st) {
    const Lock lock(table->lock);
    std::uint64_t stamp = 0;
    FutureRecord& r = record_of(serial, stamp);
    if (state_of(stamp) != static_cast<std::uint32_t>(FutureState::pending))
      throw InvalidArgument(what + ": future " + std::to_string(serial) + " was completed twice");
    if (st.data.size() > kInlineData) {
      std::byte* at = arena.allocate(st.data.size());
      if (at == nullptr) throw full("a task's result", st.data.size());
      std::memcpy(at, st.data.data(), st.data.size());
      r.data = arena.handle(at);
    } else if (!st.data.empty()) {
      std::memcpy(r.inline_data, st.data.data(), st.data.size());
    }
    r.data_bytes = st.data.size();
    r.head = OutcomeHead::of(st);
    r.stamp.store(serial_of(0, generation_of(stamp)) | static_cast<std::uint32_t>(st.state),
                  std::memory_order_release);
  }

  /// The outcome in a settled record. Needs the lock.
  [[nodiscard]] FutureStatus outcome_locked(const FutureRecord& r) const {
    const std::byte* p = r.data_bytes > kInlineData ? arena.address(r.data) : r.inline_data;
    return r.head.with(std::vector<std::byte>(p, p + r.data_bytes));
  }

  /// The record of `serial` now: pending without taking the lock.
  [[nodiscard]] FutureStatus read(std::uint64_t serial) const {
    std::uint64_t stamp = 0;
    (void)record_of(serial, stamp);
    if (state_of(stamp) == static_cast<std::uint32_t>(FutureState::pending)) return {};
    const Lock lock(table->lock);
    return outcome_locked(record_of(serial, stamp));  // again: a take may have come between
  }

  /// The outcome of a settled future, whose record is freed.
  FutureStatus take(std::uint64_t serial) {
    const Lock lock(table->lock);
    std::uint64_t stamp = 0;
    const FutureRecord& r = record_of(serial, stamp);
    if (state_of(stamp) == static_cast<std::uint32_t>(FutureState::pending))
      throw InvalidArgument(what + ": future " + std::to_string(serial) + " is still pending");
    FutureStatus st = outcome_locked(r);
    free_locked(index_of(serial), stamp);
    return st;
  }

  OutOfMemory full(const char* what_for, std::size_t bytes) const {
    return OutOfMemory(what + ": node " + std::to_string(node) + "'s pool arena cannot hold " + what_for + " (" +
                       std::to_string(bytes) + " bytes; " + std::to_string(arena.free_bytes()) + " free of " +
                       std::to_string(arena.capacity()) + "): make the pool larger (TaskPool's bytes_per_node)");
  }

  PoolTable* table = nullptr;
  ObjectStore* store = nullptr;
  std::vector<Invoker> invokers;  ///< this process's, in define order
  std::vector<std::string> signatures;
  std::atomic<std::uint64_t> submitted{0};  ///< by this rank
  std::atomic<std::uint64_t> completed{0};  ///< by this rank
  /// Stolen tasks this node's arena had no room for: this rank runs them first.
  std::mutex spare_mutex;
  std::deque<std::pair<TaskHead, std::vector<std::byte>>> spare;
  int next_victim = 0;
  Clock::time_point next_steal{};
  std::chrono::microseconds steal_pause{0};
};

PoolCore::PoolCore(const Runtime& rt, ObjectStore& store, std::size_t bytes) : state_(std::make_unique<PoolState>()) {
  auto& s = *state_;
  s.what = "lagoon::TaskPool";
  s.store = &store;
  s.open_arena(rt, bytes, 0, kDefaultBytes, "", [](Heap& heap) {
    heap.construct<PoolTable>(kTableName)();
  });
  s.table = s.arena.heap().find<PoolTable>(kTableName).first;
  s.open();  // last: other nodes may ask at once
  s.next_victim = (s.node + 1) % s.ctx->node_count;
  const std::lock_guard lock(registry_mutex());
  registry()[s.id] = this;
}

PoolCore::~PoolCore() {
  {
    const std::lock_guard lock(registry_mutex());
    registry().erase(state_->id);
  }
  state_->close_arena();
}

PoolCore& PoolCore::find(std::uint32_t pool) {
  const std::lock_guard lock(registry_mutex());
  const auto it = registry().find(pool);
  if (pool == 0) throw InvalidArgument("lagoon::Future: an empty future (default-constructed)");
  if (it == registry().end())
    throw InvalidArgument("lagoon::Future: its TaskPool (#" + std::to_string(pool) + ") is gone from this process");
  return *it->second;
}

std::uint32_t PoolCore::id() const noexcept { return state_->id; }
int PoolCore::node() const noexcept { return state_->node; }
int PoolCore::node_count() const noexcept { return state_->ctx->node_count; }
ObjectStore& PoolCore::store() noexcept { return *state_->store; }

std::uint64_t PoolCore::held() const {
  const auto& s = *state_;
  s.arena.segment().check_alive();
  const Lock lock(s.table->lock);
  return s.table->held;
}

std::uint32_t PoolCore::define(Invoker invoker, std::string signature) {
  auto& s = *state_;
  const auto index = static_cast<std::uint32_t>(s.invokers.size());
  const std::uint64_t print = fnv1a(signature, fnv1a(std::to_string(index)));
  const SameOnAllRanks same{print, ErrorKind::invalid_argument,
                            s.what + ".define: task #" + std::to_string(index) + " (" + signature +
                                " here): every rank must define the same tasks in the same order"};
  agree(s.ctx->world, [] {}, &same);
  s.invokers.push_back(std::move(invoker));
  s.signatures.push_back(std::move(signature));
  return index;
}

std::string PoolCore::task_name(std::uint32_t task) const {
  const auto& s = *state_;
  return "task #" + std::to_string(task) +
         (task < s.signatures.size() ? " (" + s.signatures[task] + ")" : std::string());
}

FutureKey PoolCore::submit(std::uint32_t task, int node, std::span<const FutureKey> deps, bool stealable,
                           std::span<const std::byte> args) {
  auto& s = *state_;
  s.arena.segment().check_alive();
  if (task >= s.invokers.size())
    throw InvalidArgument(s.what + ".submit: no task #" + std::to_string(task) + " in this pool");
  if (node < 0 || node >= s.ctx->node_count)
    throw InvalidArgument(s.what + ".submit_on(" + std::to_string(node) + "): there are " +
                          std::to_string(s.ctx->node_count) + " nodes");
  TaskHead head;
  head.task = task;
  head.origin = s.ctx->world.rank();
  head.deps = static_cast<std::uint32_t>(deps.size());
  head.stealable = stealable && deps.empty() ? 1 : 0;
  std::vector<std::byte> payload(deps.size_bytes() + args.size());
  if (!deps.empty()) std::memcpy(payload.data(), deps.data(), deps.size_bytes());
  if (!args.empty()) std::memcpy(payload.data() + deps.size_bytes(), args.data(), args.size());
  // A record that could not be queued is freed again.
  const auto discard = [&s](std::uint64_t serial) {
    std::uint64_t stamp = 0;
    (void)s.record_of(serial, stamp);
    s.free_locked(index_of(serial), stamp);
  };
  ++s.submitted;  // before it can run anywhere: join never sees more completed than submitted
  try {
    if (node == s.node) {  // one lock, no allocation for a small task
      const Lock lock(s.table->lock);
      head.future = FutureKey{s.id, s.node, s.open_record_locked(task)};
      try {
        s.push_locked(head, payload);
      } catch (...) {
        discard(head.future.serial);
        throw;
      }
    } else {
      {
        const Lock lock(s.table->lock);
        head.future = FutureKey{s.id, s.node, s.open_record_locked(task)};
      }
      std::vector<std::byte> body(sizeof head + payload.size());
      std::memcpy(body.data(), &head, sizeof head);
      std::memcpy(body.data() + sizeof head, payload.data(), payload.size());
      try {
        (void)s.call(node, PoolOp::enqueue, {}, body);
      } catch (...) {
        const Lock lock(s.table->lock);
        discard(head.future.serial);
        throw;
      }
    }
  } catch (...) {
    --s.submitted;
    throw;
  }
  return head.future;
}

FutureStatus PoolCore::status(const FutureKey& key) {
  auto& s = *state_;
  if (key.pool != s.id) throw InvalidArgument(s.what + ": a future of another pool");
  if (key.home == s.node) return s.read(key.serial);
  return parse_outcome(s.call(key.home, PoolOp::query, bytes_of(key.serial)));
}

FutureStatus PoolCore::take(const FutureKey& key) {
  auto& s = *state_;
  (void)await(key);
  if (key.home == s.node) return s.take(key.serial);
  return parse_outcome(s.call(key.home, PoolOp::take, bytes_of(key.serial)));
}

void PoolCore::release(const RefData& result) { StoreAccess::core(*state_->store).release(result); }

namespace {

/// Whether this thread's stack has room for one more task run inside a wait. A rank
/// that waits runs other tasks meanwhile, on its own stack, and those may wait in turn:
/// with several ranks feeding one queue the nesting is not bounded by the program's own
/// recursion. Near the end of the stack (the last eighth, at least 256 KiB) the next
/// task runs on a helper thread's fresh stack instead (run_nested), while this one
/// waits for it: only polling there could leave every rank waiting at its limit for
/// tasks that nobody runs.
bool stack_has_room() {
  thread_local const std::pair<std::uintptr_t, std::size_t> stack = [] {
    pthread_attr_t attr;
    void* low = nullptr;
    std::size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &low, &size);
      pthread_attr_destroy(&attr);
    }
    return std::pair{reinterpret_cast<std::uintptr_t>(low), size};
  }();
  if (stack.second == 0) return true;  // unknown: as before
  const char here = 0;
  const auto at = reinterpret_cast<std::uintptr_t>(&here);
  const std::size_t reserve = std::max<std::size_t>(stack.second / 8, 256u << 10);
  return at > stack.first && at - stack.first > reserve;
}

}  // namespace

bool PoolCore::run_nested() {
  if (stack_has_room()) return run_one();
  bool ran = false;
  std::exception_ptr error;
  std::thread helper([&] {
    try {
      ran = run_one();
    } catch (...) {
      error = std::current_exception();
    }
  });
  helper.join();
  if (error) std::rethrow_exception(error);
  return ran;
}

FutureStatus PoolCore::await(const FutureKey& key) {
  Backoff backoff;
  for (;;) {
    FutureStatus st = status(key);
    if (st.state != FutureState::pending) return st;
    if (run_nested())
      backoff.reset();
    else
      backoff.wait();
  }
}

std::vector<std::size_t> PoolCore::wait_any(std::span<const FutureKey> keys, std::size_t n) {
  n = std::min(n, keys.size());
  std::vector<bool> settled(keys.size(), false);
  std::vector<std::size_t> done;
  Backoff backoff;
  for (;;) {
    for (std::size_t i = 0; i < keys.size() && done.size() < n; ++i) {
      if (settled[i] || status(keys[i]).state == FutureState::pending) continue;
      settled[i] = true;
      done.push_back(i);
    }
    if (done.size() >= n) return done;
    if (run_nested())
      backoff.reset();
    else
      backoff.wait();
  }
}

bool PoolCore::run_one() {
  auto& s = *state_;
  s.arena.segment().check_alive();
  TaskHead head;
  std::vector<std::byte> payload;
  bool found = false;
  FutureKey checking{};
  std::vector<FutureKey> remote;
  {
    const std::lock_guard keep(s.spare_mutex);
    if (!s.spare.empty()) {
      head = s.spare.front().first;
      payload = std::move(s.spare.front().second);
      s.spare.pop_front();
      found = true;
    }
  }
  if (!found) {
    const Lock lock(s.table->lock);
    // Newest first (thieves take the oldest): a task that waits for the tasks it just
    // submitted runs them before older work, so nesting stays as deep as the
    // recursion, not as long as the queue.
    for (std::uint64_t i = s.table->queued; i-- > 0;) {
      QueuedTask& e = s.entry(i);
      if (e.head.deps == 0) {
        payload = s.take_locked(i, head);
        found = true;
        break;
      }
      const auto deps = s.deps_of(e);
      bool ready = true;
      bool far = false;
      for (const auto& d : deps) {
        if (d.home == s.node) {
          ready = ready && s.settled(d.serial);
        } else {
          far = true;
        }
      }
      if (!ready) continue;
      if (!far) {
        payload = s.take_locked(i, head);
        found = true;
        break;
      }
      if (!e.head.checking && remote.empty()) {  // its far dependencies are asked about below
        e.head.checking = 1;
        checking = e.head.future;
        for (const auto& d : deps)
          if (d.home != s.node) remote.push_back(d);
      }
    }
  }
  if (!found && !remote.empty()) {
    bool ready = true;
    try {
      for (const auto& d : remote) ready = ready && status(d).state != FutureState::pending;
    } catch (...) {
      ready = true;  // the task runs, and its argument's resolution reports the error
    }
    const Lock lock(s.table->lock);
    for (std::uint64_t i = 0; i < s.table->queued; ++i) {
      QueuedTask& e = s.entry(i);
      if (!(e.head.future == checking)) continue;
      e.head.checking = 0;
      if (ready) {
        payload = s.take_locked(i, head);
        found = true;
      }
      break;
    }
  }
  if (!found && s.transport && Clock::now() >= s.next_steal) {
    // Nothing here: ask the next other node for a task without locality.
    const int victim = s.next_victim;
    s.next_victim = (s.next_victim + 1) % s.ctx->node_count;
    if (s.next_victim == s.node) s.next_victim = (s.next_victim + 1) % s.ctx->node_count;
    const auto answer = s.call(victim, PoolOp::steal);
    if (answer.size() >= sizeof head) {
      // Run the first task; queue the others here (their futures stay at their home).
      std::span<const std::byte> rest(answer);
      bool first = true;
      while (rest.size() >= sizeof head) {
        TaskHead h;
        std::memcpy(&h, rest.data(), sizeof h);
        if (h.payload_bytes > rest.size() - sizeof h) throw TransportError(s.what + ": a malformed stolen task");
        const auto p = rest.subspan(sizeof h, h.payload_bytes);
        if (first) {
          head = h;
          payload.assign(p.begin(), p.end());
          first = false;
        } else {
          try {
            const Lock lock(s.table->lock);
            s.push_locked(h, p);
          } catch (const OutOfMemory&) {  // this node's arena is full: this rank runs it later
            const std::lock_guard keep(s.spare_mutex);
            s.spare.emplace_back(h, std::vector<std::byte>(p.begin(), p.end()));
          }
        }
        rest = rest.subspan(sizeof h + h.payload_bytes);
      }
      found = true;
      s.steal_pause = std::chrono::microseconds(0);
    } else {
      s.steal_pause = std::clamp(s.steal_pause * 2, std::chrono::microseconds(50), std::chrono::microseconds(2000));
      s.next_steal = Clock::now() + s.steal_pause;
    }
  }
  if (!found) return false;

  Runner run(*this);
  FutureStatus outcome;
  outcome.task = head.task;
  outcome.rank = s.ctx->world.rank();
  outcome.node = s.node;
  try {
    if (head.task >= s.invokers.size()) throw InvalidArgument(s.what + ": no task #" + std::to_string(head.task));
    const auto args = std::span<const std::byte>(payload).subspan(head.deps * sizeof(FutureKey));
    s.invokers[head.task](run, args);
    outcome.state = FutureState::done;
    outcome.ref = run.ref_;
    outcome.data = std::move(run.wire_);
  } catch (const std::exception& e) {
    // The user's code failed: the future keeps the error's kind (generic for anything
    // that is not a lagoon::Error) and message; the pool goes on.
    const auto* error = dynamic_cast<const Error*>(&e);
    outcome.state = FutureState::failed;
    outcome.error = error ? error->kind() : ErrorKind::generic;
    const auto text = std::as_bytes(std::span<const char>(e.what(), std::strlen(e.what())));
    outcome.data.assign(text.begin(), text.end());
  }
  if (head.future.home == s.node) {
    s.write(head.future.serial, outcome);
  } else {
    const CompleteArgs args{head.future.serial, OutcomeHead::of(outcome)};
    (void)s.call(head.future.home, PoolOp::complete, bytes_of(args), outcome.data);
  }
  ++s.completed;
  return true;
}

void PoolCore::join() {
  auto& s = *state_;
  s.arena.segment().check_alive();
  // Termination by double counting: every rank counts the tasks it submitted and the
  // tasks it ran; when two waves in a row see the same totals, equal to each other,
  // nothing was pending between them, and no task can appear any more.
  std::uint64_t last[2] = {~std::uint64_t{0}, 0};
  Backoff backoff;
  for (;;) {
    const std::uint64_t mine[2] = {s.submitted.load(), s.completed.load()};
    std::uint64_t total[2] = {0, 0};
    mpi::Requests wave;
    mpi::iallreduce_sum(mine, total, 2, s.ctx->world, wave);  // every rank is in join: waves match
    while (!wave.test_all()) {
      if (run_one())
        backoff.reset();
      else
        backoff.wait();
    }
    if (total[0] == total[1] && total[0] == last[0] && total[1] == last[1]) return;
    backoff.reset();  // every rank is in the next wave at once
    last[0] = total[0];
    last[1] = total[1];
    if (total[0] != total[1] && !run_one()) backoff.wait();
  }
}

void PoolCore::rethrow(const FutureStatus& st) const {
  const std::string message(reinterpret_cast<const char*>(st.data.data()), st.data.size());
  const std::string where = task_name(st.task) + " on world rank " + std::to_string(st.rank) + " (node " +
                            std::to_string(st.node) + ")";
  if (st.error == ErrorKind::generic) throw TaskError(where + " failed: " + message);
  throw_error(st.error, message + " [in " + where + "]");
}

}  // namespace lagoon::detail
