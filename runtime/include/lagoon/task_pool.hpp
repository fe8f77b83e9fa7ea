// Tasks: Ray's remote functions for MPI programs. Define a function once on every
// rank, submit it from any rank, get a Future; tasks run where their data lives, on
// ranks that wait inside lagoon, and idle nodes steal work from busy ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "lagoon/detail/archive.hpp"
#include "lagoon/detail/task_core.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/error.hpp"
#include "lagoon/object_store.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/shareable.hpp"

namespace lagoon {

class TaskPool;

/// A task defined in a TaskPool: which pool, which function. Shareable and
/// default-constructible (empty): send it, store it, assign it later (a recursive task
/// captures its own handle by reference).
template <class Sig>
class Task;

template <class R, class... Args>
class Task<R(Args...)> {
 public:
  Task() = default;
  [[nodiscard]] bool empty() const noexcept { return pool_ == 0; }

 private:
  friend class TaskPool;
  Task(std::uint32_t pool, std::uint32_t index) noexcept : pool_(pool), index_(index) {}
  std::uint32_t pool_ = 0;
  std::uint32_t index_ = 0;
};

template <class R>
class Future;

namespace detail {

template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<ObjectRef<T>> : std::true_type {
  using type = T;
};
template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {
  using type = T;
};
template <class T>
struct is_object_view : std::false_type {};
template <class E>
struct is_object_view<ObjectView<E>> : std::true_type {
  using element = E;
};

/// A value's bytes as a task's argument or result: raw for Shareable data (and
/// vectors of it), a Boost archive otherwise.
template <class T>
std::vector<std::byte> encode_value(const T& value) {
  std::vector<std::byte> out;
  if constexpr (raw_range<T>::value) {
    const auto bytes = std::as_bytes(std::span(value.data(), value.size()));
    out.assign(bytes.begin(), bytes.end());
  } else if constexpr (Shareable<T>) {
    const auto bytes = std::as_bytes(std::span<const T, 1>(&value, 1));
    out.assign(bytes.begin(), bytes.end());
  } else {
    serialize_into(value, out);
  }
  return out;
}

template <class T>
T decode_value(std::span<const std::byte> bytes, const char* what) {
  if constexpr (raw_range<T>::value) {
    using E = typename raw_range<T>::element;
    if (bytes.size() % sizeof(E) != 0) throw DeserializeError(std::string(what) + ": a ragged array of elements");
    T out(bytes.size() / sizeof(E));
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  } else if constexpr (Shareable<T>) {
    if (bytes.size() != sizeof(T))
      throw DeserializeError(std::string(what) + ": " + std::to_string(bytes.size()) + " bytes for a " +
                             std::string(type_name<T>()) + " of " + std::to_string(sizeof(T)));
    T out;
    std::memcpy(&out, bytes.data(), sizeof(T));
    return out;
  } else {
    T out{};
    deserialize(bytes, out, what);
    return out;
  }
}

/// What `store.get` gives, turned into a parameter of type P.
template <class P, class Got>
P convert_got(Got&& got) {
  if constexpr (std::is_same_v<std::remove_cvref_t<Got>, P>) {
    return std::forward<Got>(got);
  } else if constexpr (raw_range<P>::value) {
    return P(got.begin(), got.end());
  } else {
    return *got;  // the one element of a Shareable value's view
  }
}

/// A parameter of type P from an object in the store (the ref's tag tells its type).
template <class P>
P resolve_ref(ObjectStore& store, const RefData& ref) {
  if constexpr (is_object_ref<P>::value) {
    return RefAccess::make<typename is_object_ref<P>::type>(ref);
  } else if constexpr (is_object_view<P>::value) {
    using E = typename is_object_view<P>::element;
    if (ref.tag == type_tag(type_name<E>())) return store.get(RefAccess::make<E>(ref));
    return store.get(RefAccess::make<std::vector<E>>(ref));
  } else {
    return convert_got<P>(store.get(RefAccess::make<P>(ref)));
  }
}

/// A future's result as a value of type R (or a throw of what its task threw).
template <class R>
R result_of(PoolCore& pool, const FutureStatus& st) {
  if (st.state == FutureState::failed) pool.rethrow(st);
  if constexpr (std::is_void_v<R>) {
    return;
  } else if (st.ref.store != 0) {
    return resolve_ref<R>(pool.store(), st.ref);
  } else {
    return decode_value<R>(st.data, "lagoon::Future.get");
  }
}

/// Reads a task's arguments, one [kind][size][bytes] entry per parameter.
class ArgReader {
 public:
  ArgReader(Runner& run, std::span<const std::byte> wire) : run_(run), rest_(wire) {}

  template <class P>
  P next() {
    if (rest_.size() < 1 + sizeof(std::uint64_t)) throw DeserializeError("lagoon::TaskPool: truncated task arguments");
    const auto kind = static_cast<ArgKind>(rest_[0]);
    std::uint64_t size = 0;
    std::memcpy(&size, rest_.data() + 1, sizeof size);
    rest_ = rest_.subspan(1 + sizeof size);
    if (size > rest_.size()) throw DeserializeError("lagoon::TaskPool: truncated task arguments");
    const auto bytes = rest_.first(size);
    rest_ = rest_.subspan(size);
    if (kind == ArgKind::ref) {
      RefData ref;
      if (bytes.size() != sizeof ref) throw DeserializeError("lagoon::TaskPool: a malformed ref argument");
      std::memcpy(&ref, bytes.data(), sizeof ref);
      return resolve_ref<P>(run_.pool().store(), ref);
    }
    if constexpr (is_object_view<P>::value) {
      throw InvalidArgument("lagoon::TaskPool: an ObjectView parameter takes an ObjectRef argument");
    } else {
      if (kind == ArgKind::value) return decode_value<P>(bytes, "lagoon::TaskPool: a task's argument");
      if (kind == ArgKind::future) {
        FutureKey key;
        if (bytes.size() != sizeof key) throw DeserializeError("lagoon::TaskPool: a malformed future argument");
        std::memcpy(&key, bytes.data(), sizeof key);
        return result_of<P>(run_.pool(), run_.pool().await(key));
      }
      throw DeserializeError("lagoon::TaskPool: a task argument of unknown kind");
    }
  }

 private:
  Runner& run_;
  std::span<const std::byte> rest_;
};

/// The signature of a callable's operator() (a lambda without auto parameters).
template <class F>
struct signature_of : signature_of<decltype(&F::operator())> {};
template <class C, class R, class... A>
struct signature_of<R (C::*)(A...) const> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct signature_of<R (C::*)(A...)> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct signature_of<R (C::*)(A...) const noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct signature_of<R (C::*)(A...) noexcept> {
  using type = R(A...);
};
template <class R, class... A>
struct signature_of<R (*)(A...)> {
  using type = R(A...);
};

}  // namespace detail

/// The result of a submitted task. Shareable (a pool id, the node that keeps its
/// record, a number): send it, store it, pass it to another task.
template <class R>
class Future {
 public:
  Future() = default;
  [[nodiscard]] bool empty() const noexcept { return key_.pool == 0; }
  /// Waits for the result, running other queued tasks meanwhile (no deadlock when a
  /// task waits for the tasks it submitted, even on one rank). Rethrows what the task
  /// threw: the same lagoon::Error subclass, or TaskError naming the task, its rank and
  /// node and the original message.
  R get() const {
    auto& pool = detail::PoolCore::find(key_.pool);
    return detail::result_of<R>(pool, pool.await(key_));
  }
  /// get(), then frees the future: its record on its home node and a large result's
  /// object in the store (a future's record stays until the pool ends otherwise). Any
  /// later get/ready/ref/take of this future or of a copy, and a task still to run
  /// with it as an argument, throw ObjectFreed. Rethrows what the task threw as get()
  /// does (the future is freed all the same).
  R take() const {
    auto& pool = detail::PoolCore::find(key_.pool);
    const auto st = pool.take(key_);
    if (st.state == detail::FutureState::failed || st.ref.store == 0) return detail::result_of<R>(pool, st);
    try {
      if constexpr (std::is_void_v<R>) {
        pool.release(st.ref);
      } else {
        R result = detail::result_of<R>(pool, st);
        pool.release(st.ref);
        return result;
      }
    } catch (...) {
      try {
        pool.release(st.ref);
      } catch (...) {  // freed already (by the try above): the first error is the one to report
      }
      throw;
    }
  }
  /// Whether the result (or the task's error) is there; never waits.
  [[nodiscard]] bool ready() const {
    return detail::PoolCore::find(key_.pool).status(key_).state != detail::FutureState::pending;
  }
  /// The result as an object in the store: a large result stays in the store of the
  /// node that ran the task and this is its ref; a small one (at most 4 KiB), which
  /// came back inline, is put into this node's store now. Waits as get() does.
  [[nodiscard]] ObjectRef<R> ref() const
    requires(!std::is_void_v<R>)
  {
    auto& pool = detail::PoolCore::find(key_.pool);
    const auto st = pool.await(key_);
    if (st.state == detail::FutureState::failed) pool.rethrow(st);
    if (st.ref.store != 0) return detail::RefAccess::make<R>(st.ref);
    return pool.store().put(detail::decode_value<R>(st.data, "lagoon::Future.ref"));
  }

 private:
  friend class TaskPool;
  template <class T>
  friend std::vector<std::size_t> wait(const std::vector<Future<T>>& futures, std::size_t n);
  template <class T>
  friend class Future;
  explicit Future(const detail::FutureKey& key) noexcept : key_(key) {}
  detail::FutureKey key_;
};

/// A pool of tasks over every rank: each node keeps a queue in its shared memory, and
/// the ranks run queued tasks while they wait inside lagoon (Future::get, wait, join).
///
/// - Placement: a task with ObjectRef arguments runs on the node that holds most of
///   their bytes; one with Future arguments on the node that keeps those futures'
///   records (where it waits for them without a message); `submit_on(node, ...)`
///   places it; any other runs on the submitting node. A task that stays on its node
///   costs no MPI message; one for another node goes through that node's service,
///   which only enqueues it.
/// - Load balance: a rank that waits and finds its node's queue empty steals a task
///   without locality (no ObjectRef or Future arguments, or refs under 64 KiB in all)
///   from another node.
/// - Results: at most 4 KiB come back inline; larger ones stay in the store of the node
///   that ran the task (Future::ref), and get() reads them from there.
///
/// **Example**:
///   lagoon::ObjectStore store(rt);
///   lagoon::TaskPool pool(rt, store);                                    // collective
///   auto square = pool.define([](double x) { return x * x; });           // collective
///   auto f = pool.submit(square, 3.0);                                   // any rank
///   double y = f.get();                                                  // 9, running other tasks meanwhile
///   pool.join();                                                         // collective
class TaskPool {
 public:
  /// A queue and a table of futures on every node, in an arena of `bytes_per_node`
  /// (0: 64 MiB); tasks' ObjectRef arguments and large results live in `store`, which
  /// must outlive the pool. @note collective over the world
  TaskPool(const Runtime& rt, ObjectStore& store, std::size_t bytes_per_node = 0)
      : core_(std::make_unique<detail::PoolCore>(rt, store, bytes_per_node)) {}
  TaskPool(TaskPool&&) noexcept = default;
  TaskPool& operator=(TaskPool&&) noexcept = default;
  /// Frees every node's queue and futures; tasks still queued never run (join first).
  /// @note collective over the world
  ~TaskPool() = default;

  /// Defines a task from a function object with fixed parameter types (a lambda
  /// without `auto` parameters, or a function pointer). Every rank must define the
  /// same tasks in the same order: checked, InvalidArgument on every rank otherwise.
  /// @note collective over the world
  template <class F>
  [[nodiscard]] auto define(F f) {
    using Sig = typename detail::signature_of<std::decay_t<F>>::type;
    return define_as<Sig>(std::move(f), static_cast<Sig*>(nullptr));
  }

  /// Submits `task` with `args` (any rank, not collective). An ObjectRef argument is
  /// resolved where the task runs (a parameter of type ObjectView<E> reads it in
  /// place, ObjectRef<T> receives the ref itself, T a copy); a Future<T> argument makes
  /// the task wait for it (without blocking a rank) and receive its value.
  template <class R, class... P, class... A>
  Future<R> submit(const Task<R(P...)>& task, A&&... args) {
    return submit_to(-1, task, std::forward<A>(args)...);
  }
  /// Submits `task` to run on a rank of node `node`.
  template <class R, class... P, class... A>
  Future<R> submit_on(int node, const Task<R(P...)>& task, A&&... args) {
    if (node < 0 || node >= core().node_count())
      throw InvalidArgument("lagoon::TaskPool.submit_on(" + std::to_string(node) + "): there are " +
                            std::to_string(core().node_count()) + " nodes");
    return submit_to(node, task, std::forward<A>(args)...);
  }

  /// Returns once every task submitted before it, on any rank, has run; this rank runs
  /// tasks meanwhile (a rank that calls join() at once is a pure worker).
  /// @note collective over the world
  void join() { core().join(); }

  /// The futures whose records this node keeps (the tasks submitted on this node and
  /// not yet taken): each holds ~160 bytes of the node's pool arena until
  /// Future::take() or the pool's end.
  [[nodiscard]] std::uint64_t futures_held() const { return core().held(); }

 private:
  [[nodiscard]] detail::PoolCore& core() const {
    if (!core_) throw InvalidArgument("lagoon::TaskPool: used after it was moved from");
    return *core_;
  }

  template <class Sig, class F, class R, class... P>
  Task<Sig> define_as(F f, R (*)(P...)) {
    static_assert(((!std::is_reference_v<P> || std::is_const_v<std::remove_reference_t<P>>) && ...),
                  "lagoon::TaskPool.define: a task's parameters are values or const references "
                  "(its arguments travel between processes)");
    detail::Invoker invoker = [f = std::move(f)](detail::Runner& run, std::span<const std::byte> wire) mutable {
      detail::ArgReader reader(run, wire);
      std::tuple<std::decay_t<P>...> args{reader.template next<std::decay_t<P>>()...};
      if constexpr (std::is_void_v<R>) {
        std::apply(f, std::move(args));
      } else {
        const R result = std::apply(f, std::move(args));
        auto wire_result = detail::encode_value(result);
        if (wire_result.size() <= detail::PoolCore::kInlineResult)
          run.result(std::move(wire_result));
        else
          run.result_ref(detail::RefAccess::data(run.pool().store().put(result)));
      }
    };
    const auto index = core().define(std::move(invoker), std::string(detail::type_name<Sig>()));
    return Task<Sig>(core().id(), index);
  }

  template <class R, class... P, class... A>
  Future<R> submit_to(int node, const Task<R(P...)>& task, A&&... args) {
    static_assert(sizeof...(P) == sizeof...(A), "lagoon::TaskPool.submit: one argument per parameter of the task");
    auto& pool = core();
    if (task.empty()) throw InvalidArgument("lagoon::TaskPool.submit: an empty task (never defined)");
    if (task.pool_ != pool.id()) throw InvalidArgument("lagoon::TaskPool.submit: a task of another pool");
    std::vector<std::byte> wire;
    std::vector<detail::FutureKey> deps;
    std::vector<std::size_t> weight(static_cast<std::size_t>(pool.node_count()), 0);
    std::size_t ref_bytes = 0;
    (encode_arg<std::decay_t<P>>(wire, deps, weight, ref_bytes, std::forward<A>(args)), ...);
    const bool located = !deps.empty() || ref_bytes > 0;
    const bool placed = node >= 0;  // submit_on: it runs there, never stolen
    if (node < 0) {
      node = pool.node();
      std::size_t best = 0;
      for (std::size_t n = 0; n < weight.size(); ++n)
        if (weight[n] > best) best = weight[n], node = static_cast<int>(n);
    }
    const bool stealable =
        !placed && deps.empty() && (!located || ref_bytes < detail::PoolCore::kStealableBytes);
    return Future<R>(pool.submit(task.index_, node, deps, stealable, wire));
  }

  template <class P, class A>
  static void encode_arg(std::vector<std::byte>& wire, std::vector<detail::FutureKey>& deps,
                         std::vector<std::size_t>& weight, std::size_t& ref_bytes, A&& arg) {
    using D = std::decay_t<A>;
    if constexpr (detail::is_object_ref<D>::value) {
      const detail::RefData& ref = detail::RefAccess::data(arg);
      if (ref.node >= 0 && static_cast<std::size_t>(ref.node) < weight.size())
        weight[static_cast<std::size_t>(ref.node)] += static_cast<std::size_t>(ref.bytes) + 1;
      ref_bytes += static_cast<std::size_t>(ref.bytes);
      put_entry(wire, detail::ArgKind::ref, std::as_bytes(std::span<const detail::RefData, 1>(&ref, 1)));
    } else if constexpr (detail::is_future<D>::value) {
      static_assert(std::is_same_v<typename detail::is_future<D>::type, P>,
                    "lagoon::TaskPool.submit: a Future<T> argument goes to a parameter of type T");
      const detail::FutureKey& key = arg.key_;
      deps.push_back(key);
      if (key.home >= 0 && static_cast<std::size_t>(key.home) < weight.size())
        weight[static_cast<std::size_t>(key.home)] += 1;
      put_entry(wire, detail::ArgKind::future, std::as_bytes(std::span<const detail::FutureKey, 1>(&key, 1)));
    } else {
      static_assert(!detail::is_object_view<P>::value,
                    "lagoon::TaskPool.submit: an ObjectView<E> parameter takes an ObjectRef argument");
      const P value(std::forward<A>(arg));
      put_entry(wire, detail::ArgKind::value, detail::encode_value(value));
    }
  }

  static void put_entry(std::vector<std::byte>& wire, detail::ArgKind kind, std::span<const std::byte> bytes) {
    const std::uint64_t size = bytes.size();
    const std::size_t at = wire.size();
    wire.resize(at + 1 + sizeof size + bytes.size());
    wire[at] = static_cast<std::byte>(kind);
    std::memcpy(wire.data() + at + 1, &size, sizeof size);
    if (!bytes.empty()) std::memcpy(wire.data() + at + 1 + sizeof size, bytes.data(), bytes.size());
  }

  std::unique_ptr<detail::PoolCore> core_;
};

/// Indices of the first `n` of `futures` to finish (in the order they were seen
/// finished), waiting and running queued tasks meanwhile, as ray.wait does.
template <class R>
[[nodiscard]] std::vector<std::size_t> wait(const std::vector<Future<R>>& futures, std::size_t n) {
  if (futures.empty() || n == 0) return {};
  std::vector<detail::FutureKey> keys;
  keys.reserve(futures.size());
  for (const auto& f : futures) keys.push_back(f.key_);
  return detail::PoolCore::find(keys.front().pool).wait_any(keys, n);
}

}  // namespace lagoon
