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
#include <boost/interprocess/containers/deque.hpp>
#include <boost/interprocess/containers/map.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
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

/// Holds the node table's mutex. It spins on try_lock a little before it blocks: the
/// node's ranks hold the mutex for a microsecond or two, and a futex sleep and wake
/// between processes costs several times that.
class Lock {
 public:
  explicit Lock(bip::interprocess_mutex& m) : m_(m) {
    for (int i = 0; i < 128; ++i) {
      if (m_.try_lock()) return;
      cpu_relax();
    }
    m_.lock();
  }
  ~Lock() { m_.unlock(); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  bip::interprocess_mutex& m_;
};

/// A task in a queue (and on the wire, followed by its payload: the FutureKeys it
/// depends on, then its arguments).
struct QueuedTask {
  FutureKey future;
  std::uint32_t task = 0;
  std::int32_t origin = -1;  ///< the submitting world rank
  std::uint32_t deps = 0;
  std::uint8_t stealable = 0;
  std::uint8_t checking = 0;  ///< a rank is asking other nodes about its dependencies
  std::uint16_t reserved = 0;
  std::uint64_t payload = 0;  ///< arena handle (in a queue)
  std::uint64_t payload_bytes = 0;
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

struct FutureRecord {
  OutcomeHead head;
  std::uint64_t data = 0;  ///< arena handle of the inline result or the message
  std::uint64_t data_bytes = 0;
};

using Queue = bip::deque<QueuedTask, HeapAllocator<QueuedTask>>;
using Futures = bip::map<std::uint64_t, FutureRecord, std::less<std::uint64_t>,
                         HeapAllocator<std::pair<const std::uint64_t, FutureRecord>>>;

struct PoolTable {
  explicit PoolTable(Heap::segment_manager* m)
      : queue(HeapAllocator<QueuedTask>(m)), futures(HeapAllocator<std::pair<const std::uint64_t, FutureRecord>>(m)) {}
  bip::interprocess_mutex mutex;
  std::uint64_t next_serial = 0;
  Queue queue;
  Futures futures;
};

/// What a pool asks of another node's pool. Its service only moves records.
enum class PoolOp : std::uint32_t {
  enqueue = 1,  ///< body: a QueuedTask and its payload; answer: empty
  complete,     ///< args: CompleteArgs; body: the result's wire bytes or the message; answer: empty
  query,        ///< args: the future's serial; answer: an OutcomeHead and its data
  steal,        ///< answer: a QueuedTask and its payload, or nothing
};

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
/// and yields the core until 200 us (a result another rank of the node is computing
/// comes in microseconds, a system call costs a few, and a sleep at least the kernel's
/// timer slack, ~50 us), then sleeps, longer as the wait lasts, up to 500 us.
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
    if (waited < std::chrono::microseconds(200)) {
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(waited / 4, std::chrono::microseconds(500)));
  }

 private:
  Clock::time_point since_{};
};

template <class T>
std::span<const std::byte> bytes_of(const T& value) {
  return std::as_bytes(std::span<const T, 1>(&value, 1));
}

}  // namespace

class PoolState final : public ArenaServed {
 public:
  void serve(const Request& request, Transport& t) override {
    switch (static_cast<PoolOp>(request.header.op)) {
      case PoolOp::enqueue: {
        std::vector<std::byte> body(request.header.body_bytes);
        t.receive_body(request, std::span<std::byte>(body));
        QueuedTask head;
        if (body.size() < sizeof head) throw TransportError(what + ": a malformed task");
        std::memcpy(&head, body.data(), sizeof head);
        push(head, std::span<const std::byte>(body).subspan(sizeof head));
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
      case PoolOp::query: {
        const auto serial = request.args_as<std::uint64_t>();
        const FutureStatus st = read(serial);
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

  /// Copies `payload` into the arena and queues the task. Needs no lock held.
  void push(const QueuedTask& head, std::span<const std::byte> payload) {
    const Lock lock(table->mutex);
    std::byte* at = arena.allocate(payload.size());
    if (at == nullptr) throw full("a task's arguments", payload.size());
    if (!payload.empty()) std::memcpy(at, payload.data(), payload.size());
    QueuedTask entry = head;
    entry.payload = arena.handle(at);
    entry.payload_bytes = payload.size();
    entry.checking = 0;
    try {
      table->queue.push_back(entry);
    } catch (const bip::bad_alloc&) {
      arena.deallocate(at);
      throw full("its queue", sizeof entry);
    }
  }

  /// Takes the entry at `it` out of the queue with its payload. Needs the lock.
  std::vector<std::byte> take(Queue::iterator it, QueuedTask& head) {
    head = *it;
    const std::byte* p = arena.address(it->payload);
    std::vector<std::byte> payload(p, p + it->payload_bytes);
    arena.deallocate(arena.address(it->payload));
    table->queue.erase(it);
    return payload;
  }

  /// The dependencies of a queued task. Needs the lock.
  std::vector<FutureKey> deps_of(const QueuedTask& e) const {
    std::vector<FutureKey> deps(e.deps);
    if (e.deps) std::memcpy(deps.data(), arena.address(e.payload), e.deps * sizeof(FutureKey));
    return deps;
  }

  /// Whether this node's record of `serial` is no longer pending. Needs the lock.
  bool settled_locked(std::uint64_t serial) const {
    const auto it = table->futures.find(serial);
    return it != table->futures.end() && it->second.head.state != FutureState::pending;
  }

  /// A stealable task for another node, the oldest (the node's own ranks take the
  /// newest). Empty when there is none.
  void steal(std::vector<std::byte>& out) {
    const Lock lock(table->mutex);
    for (auto it = table->queue.begin(); it != table->queue.end(); ++it) {
      if (!it->stealable || it->deps != 0) continue;
      QueuedTask head;
      const auto payload = take(it, head);
      out.resize(sizeof head + payload.size());
      std::memcpy(out.data(), &head, sizeof head);
      if (!payload.empty()) std::memcpy(out.data() + sizeof head, payload.data(), payload.size());
      return;
    }
  }

  /// A new pending record on this node. Returns its serial.
  std::uint64_t open_record(std::uint32_t task) {
    const Lock lock(table->mutex);
    const std::uint64_t serial = ++table->next_serial;
    FutureRecord r;
    r.head.task = task;
    try {
      table->futures.emplace(serial, r);
    } catch (const bip::bad_alloc&) {
      throw full("its table of futures", sizeof r);
    }
    return serial;
  }

  void write(std::uint64_t serial, const FutureStatus& st) {
    const Lock lock(table->mutex);
    const auto it = table->futures.find(serial);
    if (it == table->futures.end())
      throw InvalidArgument(what + ": no future " + std::to_string(serial) + " on node " + std::to_string(node));
    FutureRecord& r = it->second;
    std::byte* at = st.data.empty() ? nullptr : arena.allocate(st.data.size());
    if (!st.data.empty() && at == nullptr) throw full("a task's result", st.data.size());
    if (at) std::memcpy(at, st.data.data(), st.data.size());
    r.head = OutcomeHead::of(st);
    r.data = at ? arena.handle(at) : 0;
    r.data_bytes = st.data.size();
  }

  FutureStatus read(std::uint64_t serial) const {
    const Lock lock(table->mutex);
    const auto it = table->futures.find(serial);
    if (it == table->futures.end())
      throw InvalidArgument(what + ": no future " + std::to_string(serial) + " on node " + std::to_string(node) +
                            " (a corrupt or foreign future?)");
    const FutureRecord& r = it->second;
    std::vector<std::byte> data;
    if (r.data_bytes) {
      const std::byte* p = arena.address(r.data);
      data.assign(p, p + r.data_bytes);
    }
    return r.head.with(std::move(data));
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
  int next_victim = 0;
  Clock::time_point next_steal{};
  std::chrono::microseconds steal_pause{0};
};

PoolCore::PoolCore(const Runtime& rt, ObjectStore& store, std::size_t bytes) : state_(std::make_unique<PoolState>()) {
  auto& s = *state_;
  s.what = "lagoon::TaskPool";
  s.store = &store;
  s.open_arena(rt, bytes, 0, kDefaultBytes, "", [](Heap& heap) {
    heap.construct<PoolTable>(kTableName)(heap.get_segment_manager());
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
  const FutureKey key{s.id, s.node, s.open_record(task)};
  QueuedTask head;
  head.future = key;
  head.task = task;
  head.origin = s.ctx->world.rank();
  head.deps = static_cast<std::uint32_t>(deps.size());
  head.stealable = stealable && deps.empty() ? 1 : 0;
  std::vector<std::byte> payload(deps.size_bytes() + args.size());
  if (!deps.empty()) std::memcpy(payload.data(), deps.data(), deps.size_bytes());
  if (!args.empty()) std::memcpy(payload.data() + deps.size_bytes(), args.data(), args.size());
  ++s.submitted;  // before it can run anywhere: join never sees more completed than submitted
  if (node == s.node) {
    s.push(head, payload);
  } else {
    std::vector<std::byte> body(sizeof head + payload.size());
    std::memcpy(body.data(), &head, sizeof head);
    std::memcpy(body.data() + sizeof head, payload.data(), payload.size());
    (void)s.call(node, PoolOp::enqueue, {}, body);
  }
  return key;
}

FutureStatus PoolCore::status(const FutureKey& key) {
  auto& s = *state_;
  if (key.pool != s.id) throw InvalidArgument(s.what + ": a future of another pool");
  if (key.home == s.node) return s.read(key.serial);
  const auto answer = s.call(key.home, PoolOp::query, bytes_of(key.serial));
  OutcomeHead head;
  if (answer.size() < sizeof head) throw TransportError(s.what + ": a malformed answer about a future");
  std::memcpy(&head, answer.data(), sizeof head);
  return head.with({answer.begin() + sizeof head, answer.end()});
}

FutureStatus PoolCore::await(const FutureKey& key) {
  Backoff backoff;
  for (;;) {
    FutureStatus st = status(key);
    if (st.state != FutureState::pending) return st;
    if (run_one())
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
    if (run_one())
      backoff.reset();
    else
      backoff.wait();
  }
}

bool PoolCore::run_one() {
  auto& s = *state_;
  s.arena.segment().check_alive();
  QueuedTask head;
  std::vector<std::byte> payload;
  bool found = false;
  FutureKey checking{};
  std::vector<FutureKey> remote;
  {
    const Lock lock(s.table->mutex);
    // Newest first (thieves take the oldest): a task that waits for the tasks it just
    // submitted runs them before older work, so nesting stays as deep as the
    // recursion, not as long as the queue.
    for (auto it = s.table->queue.end(); it != s.table->queue.begin();) {
      --it;
      if (it->deps == 0) {
        payload = s.take(it, head);
        found = true;
        break;
      }
      const auto deps = s.deps_of(*it);
      bool ready = true;
      bool far = false;
      for (const auto& d : deps) {
        if (d.home == s.node) {
          ready = ready && s.settled_locked(d.serial);
        } else {
          far = true;
        }
      }
      if (!ready) continue;
      if (!far) {
        payload = s.take(it, head);
        found = true;
        break;
      }
      if (!it->checking && remote.empty()) {  // its far dependencies are asked about below
        it->checking = 1;
        checking = it->future;
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
    const Lock lock(s.table->mutex);
    for (auto it = s.table->queue.begin(); it != s.table->queue.end(); ++it) {
      if (!(it->future == checking)) continue;
      it->checking = 0;
      if (ready) {
        payload = s.take(it, head);
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
      std::memcpy(&head, answer.data(), sizeof head);
      payload.assign(answer.begin() + sizeof head, answer.end());
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
