// Tasks: define on every rank (checked), submit from any rank, futures, Future and
// ObjectRef arguments (dependencies, placement by data, reading in place), results
// inline and in the store, nesting on one rank, errors as their own kind, wait,
// stealing of a skewed batch, and join.
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;

class TaskTest : public lagoon::testing::MpiTest {};

/// 0, 1, ..., n - 1: a result whose size the caller picks (a task defined from a
/// function pointer).
std::vector<double> make_ramp(int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  return v;
}

/// Where a task ran, and what it saw.
struct Ran {
  int rank = -1;
  int node = -1;
  double value = 0;
  bool in_place = false;
};

TEST_F(TaskTest, SubmitFromEveryRankAndGet) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto square = pool.define([](double x) { return x * x; });
  std::vector<lagoon::Future<double>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(pool.submit(square, rt.rank() * 100.0 + i));
  for (int i = 0; i < 20; ++i) {
    const double x = rt.rank() * 100.0 + i;
    EXPECT_EQ(futures[static_cast<std::size_t>(i)].get(), x * x);
    EXPECT_TRUE(futures[static_cast<std::size_t>(i)].ready());
  }
  pool.join();
}

TEST_F(TaskTest, DefineChecksThatEveryRankDefinesTheSameTasks) {
  auto& rt = runtime();
  if (rt.size() < 2) GTEST_SKIP() << "needs two ranks";
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  EXPECT_TRUE(throws<lagoon::InvalidArgument>(
      [&] {
        if (rt.rank() == 0)
          (void)pool.define([](double x) { return x; });
        else
          (void)pool.define([](int x) { return x; });
      },
      "every rank must define the same tasks in the same order"));
  auto id = pool.define([](int x) { return x; });  // the pool goes on
  EXPECT_EQ(pool.submit(id, 7).get(), 7);
  pool.join();
}

TEST_F(TaskTest, SubmitOnRunsOnThatNode) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto where = pool.define([&rt](int tag) { return Ran{rt.rank(), rt.node(), static_cast<double>(tag), false}; });
  std::vector<lagoon::Future<Ran>> futures;
  for (int n = 0; n < rt.node_count(); ++n) futures.push_back(pool.submit_on(n, where, n));
  for (int n = 0; n < rt.node_count(); ++n) {
    const Ran r = futures[static_cast<std::size_t>(n)].get();
    EXPECT_EQ(r.node, n);
    EXPECT_EQ(rt.node_of(r.rank), n);
    EXPECT_EQ(r.value, n);
  }
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)pool.submit_on(rt.node_count(), where, 0); }, "nodes"));
  pool.join();
}

TEST_F(TaskTest, AFutureArgumentIsADependency) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto slow_square = pool.define([](double x) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return x * x;
  });
  auto add = pool.define([](double a, double b) { return a + b; });
  const auto f = pool.submit(slow_square, 3.0);
  const auto k = pool.submit(slow_square, f);  // 81, after f
  const auto s = pool.submit(add, k, f);       // 90, after both
  EXPECT_EQ(s.get(), 90.0);
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(k.ready());
  pool.join();
}

TEST_F(TaskTest, AnObjectRefArgumentRunsWhereTheObjectIsAndIsReadInPlace) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 64 << 20);
  lagoon::TaskPool pool(rt, store);
  auto total = pool.define([&rt, &store](lagoon::ObjectView<double> v) {
    return Ran{rt.rank(), rt.node(), std::reduce(v.begin(), v.end()), store.in_arena(v.data())};
  });
  const int owner = rt.size() - 1;  // on the last node
  lagoon::ObjectRef<std::vector<double>> ref;
  if (rt.rank() == owner) ref = store.put(std::vector<double>(1 << 20, 0.5));  // 8 MiB
  ref = lagoon::broadcast(rt, ref, owner);
  const Ran r = pool.submit(total, ref).get();
  EXPECT_EQ(r.value, 0.5 * (1 << 20));
  EXPECT_EQ(r.node, rt.node_of(owner));
  EXPECT_TRUE(r.in_place);
  EXPECT_EQ(store.stats()[static_cast<std::size_t>(rt.node())].fetches, 0u) << "nothing moved between nodes";
  pool.join();
}

TEST_F(TaskTest, ALargeResultStaysInTheStoreOfTheNodeThatRanIt) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 64 << 20);
  lagoon::TaskPool pool(rt, store);
  auto ramp = pool.define(&make_ramp);
  const int last = rt.node_count() - 1;
  const auto big = pool.submit_on(last, ramp, 100000);  // 800 kB: in the store
  const auto small = pool.submit_on(last, ramp, 10);    // 80 B: inline
  const std::vector<double> got = big.get();
  ASSERT_EQ(got.size(), 100000u);
  EXPECT_EQ(got[99999], 99999.0);
  const auto ref = big.ref();
  EXPECT_EQ(ref.owner_node(), last);
  EXPECT_EQ(store.get(ref)[12345], 12345.0);
  EXPECT_EQ(small.get(), std::vector<double>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(store.get(small.ref()).size(), 10u);
  pool.join();
}

TEST_F(TaskTest, NestedTasksWaitWithoutDeadlockEvenOnOneRank) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  lagoon::Task<long(long)> fib;
  fib = pool.define([&](long n) -> long {
    if (n < 2) return n;
    auto a = pool.submit(fib, n - 1);
    auto b = pool.submit(fib, n - 2);
    return a.get() + b.get();
  });
  if (rt.rank() == 0) {
    EXPECT_EQ(pool.submit(fib, 20).get(), 6765);  // 21,891 tasks
  }
  pool.join();
}

TEST_F(TaskTest, ManyTasksFromEveryRankAtOnce) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store, 256 << 20);
  auto twice = pool.define([](std::int64_t x) { return 2 * x; });
  constexpr int kTasks = 100000;
  std::vector<lagoon::Future<std::int64_t>> futures;
  futures.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) futures.push_back(pool.submit(twice, std::int64_t{rt.rank()} * kTasks + i));
  int wrong = 0;
  for (int i = 0; i < kTasks; ++i)
    wrong += futures[static_cast<std::size_t>(i)].get() != 2 * (std::int64_t{rt.rank()} * kTasks + i) ? 1 : 0;
  EXPECT_EQ(wrong, 0);
  pool.join();
}

TEST_F(TaskTest, TakeFreesTheFutureAndItsLargeResult) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 64 << 20);
  lagoon::TaskPool pool(rt, store);
  auto ramp = pool.define(&make_ramp);
  auto fail = pool.define([](int) -> int { throw std::runtime_error("no luck"); });
  const int last = rt.node_count() - 1;
  const auto big = pool.submit_on(last, ramp, 100000);  // 800 kB, in node last's store
  const auto small = pool.submit(ramp, 3);
  const auto copy = small;
  const std::vector<double> got = big.take();
  ASSERT_EQ(got.size(), 100000u);
  EXPECT_EQ(got[54321], 54321.0);
  EXPECT_EQ(small.take(), std::vector<double>({0, 1, 2}));
  EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)copy.get(); }, "was taken"));
  EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)small.take(); }, "was taken"));
  EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)big.ready(); }, "was taken"));
  const auto failed = pool.submit(fail, 1);
  EXPECT_TRUE(throws<lagoon::TaskError>([&] { (void)failed.take(); }, "no luck"));
  EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)failed.get(); }, "was taken"));
  pool.join();
  rt.barrier();
  EXPECT_EQ(pool.futures_held(), 0u) << "every record this node's ranks opened was taken";
  EXPECT_EQ(store.stats()[static_cast<std::size_t>(last)].objects, 0u) << "the large results were freed";
}

TEST_F(TaskTest, TakenFuturesKeepAPoolWithinASmallArena) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  // 2 MiB per node: ~10,000 records; 40,000 tasks per rank fit only because each
  // future is taken.
  lagoon::TaskPool pool(rt, store, 2 << 20);
  auto inc = pool.define([](std::int64_t x) { return x + 1; });
  std::int64_t sum = 0;
  for (int batch = 0; batch < 80; ++batch) {
    std::vector<lagoon::Future<std::int64_t>> futures;
    for (int i = 0; i < 500; ++i) futures.push_back(pool.submit(inc, std::int64_t{batch} * 500 + i));
    for (const auto& f : futures) sum += f.take();
  }
  EXPECT_EQ(sum, 40000LL * 39999 / 2 + 40000);
  pool.join();
  rt.barrier();
  EXPECT_EQ(pool.futures_held(), 0u);
  rt.barrier();  // every rank has looked before any submits again
  // Without take(), the same arena runs out: OutOfMemory naming the remedy.
  std::vector<lagoon::Future<std::int64_t>> kept;
  EXPECT_TRUE(throws<lagoon::OutOfMemory>(
      [&] {
        for (int i = 0; i < 40000; ++i) kept.push_back(pool.submit(inc, std::int64_t{i}));
      },
      "pool arena cannot hold"));
  pool.join();
  for (const auto& f : kept) EXPECT_EQ(f.get() - 1, &f - kept.data());
}

TEST_F(TaskTest, ADagOfAThousandTasksLinkedByFutures) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto one = pool.define([](int x) { return std::int64_t{x}; });
  auto add = pool.define([](std::int64_t a, std::int64_t b) { return (a + b) % 1000000007; });
  if (rt.rank() == rt.size() - 1) {
    constexpr std::size_t kTasks = 1000;
    std::vector<lagoon::Future<std::int64_t>> f;
    std::vector<std::int64_t> model;
    f.push_back(pool.submit(one, 1));
    f.push_back(pool.submit(one, 2));
    model = {1, 2};
    for (std::size_t i = 2; i < kTasks; ++i) {  // each task waits for the one before and one far back
      f.push_back(pool.submit(add, f[i - 1], f[i / 2]));
      model.push_back((model[i - 1] + model[i / 2]) % 1000000007);
    }
    EXPECT_EQ(f.back().get(), model.back());
    EXPECT_EQ(f[kTasks / 3].get(), model[kTasks / 3]);
  }
  pool.join();
}

TEST_F(TaskTest, TasksUseGlobalArraysStoresAndMapsInside) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::GlobalArray<std::int64_t> counts(rt, {8});
  lagoon::SharedMap<std::string, int> seen(rt, 1 << 20);
  lagoon::TaskPool pool(rt, store);
  auto visit = pool.define([&](int i) {
    const std::int64_t one = 1;
    counts.accumulate(static_cast<std::size_t>(i % 8), static_cast<std::size_t>(i % 8) + 1,
                      std::span<const std::int64_t>(&one, 1));
    seen.update("visits", [](std::optional<int> n) { return n.value_or(0) + 1; });
    return store.put(std::string("visited ") + std::to_string(i));
  });
  std::vector<lagoon::Future<lagoon::ObjectRef<std::string>>> futures;
  for (int i = 0; i < 16; ++i) futures.push_back(pool.submit(visit, rt.rank() * 16 + i));
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(store.get(futures[static_cast<std::size_t>(i)].get()), "visited " + std::to_string(rt.rank() * 16 + i));
  pool.join();
  counts.fence();
  std::vector<std::int64_t> all(8);
  counts.get(0, 8, all);
  EXPECT_EQ(std::accumulate(all.begin(), all.end(), std::int64_t{0}), 16 * rt.size());
  EXPECT_EQ(seen.get("visits"), 16 * rt.size());
}

TEST_F(TaskTest, APoolDestroyedWithTasksQueuedEndsWithoutHanging) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::Future<int> orphan;
  {
    lagoon::TaskPool pool(rt, store);
    auto id = pool.define([](int x) { return x; });
    orphan = pool.submit(id, 1);  // never run: nobody waits before the pool ends
  }  // collective; the queued task is dropped with the pool
  EXPECT_TRUE(throws<lagoon::InvalidArgument>([&] { (void)orphan.get(); }, "is gone"));
}

TEST_F(TaskTest, AFailedTaskThrowsItsErrorFromGetAndThePoolGoesOn) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto boom = pool.define([](int kind) -> int {
    if (kind == 0) throw std::runtime_error("boom in a worker");
    if (kind == 1) throw lagoon::ShapeError("rows [5, 3) are not a range");
    return kind;
  });
  const int last = rt.node_count() - 1;
  EXPECT_TRUE(throws<lagoon::TaskError>([&] { (void)pool.submit_on(last, boom, 0).get(); }, "boom in a worker"));
  EXPECT_TRUE(throws<lagoon::TaskError>([&] { (void)pool.submit_on(last, boom, 0).get(); },
                                        "(node " + std::to_string(last) + ")"));
  EXPECT_TRUE(throws<lagoon::ShapeError>([&] { (void)pool.submit_on(last, boom, 1).get(); }, "are not a range"));
  EXPECT_EQ(pool.submit_on(last, boom, 5).get(), 5);
  pool.join();
}

TEST_F(TaskTest, AFreedObjectArgumentIsObjectFreedFromGet) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto first = pool.define([](lagoon::ObjectView<int> v) { return v[0]; });
  auto ref = store.put(std::vector<int>{4, 5, 6});
  EXPECT_EQ(pool.submit(first, ref).get(), 4);
  store.free(ref);
  EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)pool.submit(first, ref).get(); }, "was freed"));
  pool.join();
}

TEST_F(TaskTest, WaitReturnsTheFirstToFinish) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto nap = pool.define([](int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  });
  std::vector<lagoon::Future<int>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(pool.submit(nap, 5 * (i + 1)));
  const auto done = lagoon::wait(futures, 3);
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(std::set<std::size_t>(done.begin(), done.end()).size(), 3u);
  for (auto i : done) EXPECT_TRUE(futures[i].ready());
  EXPECT_EQ(lagoon::wait(futures, 6).size(), 6u);
  pool.join();
}

TEST_F(TaskTest, ASkewedBatchIsSharedByEveryNodeAndJoinWaitsForAllOfIt) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto work = pool.define([&rt](int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return Ran{rt.rank(), rt.node(), 0, false};
  });
  auto spawn = pool.define([&](int children) {  // tasks that submit tasks, which join must wait for
    for (int i = 0; i < children; ++i) (void)pool.submit(work, 1);
    return Ran{rt.rank(), rt.node(), 0, false};
  });
  std::vector<lagoon::Future<Ran>> futures;
  if (rt.rank() == 0) {
    for (int i = 0; i < 12 * rt.size(); ++i) futures.push_back(pool.submit(work, 20));  // all on node 0
    for (int i = 0; i < 4; ++i) futures.push_back(pool.submit(spawn, 5));
  }
  pool.join();  // every rank works
  std::set<int> ranks, nodes;
  for (const auto& f : futures) {
    ASSERT_TRUE(f.ready());  // join returned after every task ran
    const Ran r = f.get();
    ranks.insert(r.rank);
    nodes.insert(r.node);
  }
  if (rt.rank() == 0) {
    EXPECT_EQ(static_cast<int>(nodes.size()), rt.node_count()) << "every node took a share";
    EXPECT_GE(static_cast<int>(ranks.size()), std::min(rt.size(), 2));
  }
}

}  // namespace
