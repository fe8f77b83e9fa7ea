// The workloads the fault harness (run_faults.py) breaks: each runs for a bounded time,
// then checks its result exactly, so that a fault the job survives (a short link
// blip) is seen to lose nothing, and a fault it cannot survive is seen to end it.
//
//   fault_worker MODE [--seconds S]     MODE: publish | global | store | map | tasks
//
// World rank 0 prints "lagoon-fault: MODE running" once the workload is under way and
// "lagoon-fault: MODE finished: OK" (or MISMATCH and what differed) at the end.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lagoon/lagoon.hpp>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode;
  double seconds = 20;
};

Clock::time_point deadline(const Options& o) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
}

/// Whether world rank 0 says the run goes on (so every rank runs the same rounds).
bool go_on(const lagoon::Runtime& rt, Clock::time_point end) {
  int more = rt.rank() == 0 && Clock::now() < end ? 1 : 0;
  MPI_Bcast(&more, 1, MPI_INT, 0, rt.world());
  return more != 0;
}

void running(const lagoon::Runtime& rt, const Options& o) {
  if (rt.rank() != 0) return;
  std::printf("lagoon-fault: %s running on %d ranks, %d nodes\n", o.mode.c_str(), rt.size(), rt.node_count());
  std::fflush(stdout);
}

/// Sums `mine` over the world.
long long total(const lagoon::Runtime& rt, long long mine) {
  long long all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_LONG_LONG, MPI_SUM, rt.world());
  return all;
}

/// A 256 MiB array, published from a rotating root each round; every rank checks it.
bool publish(lagoon::Runtime& rt, const Options& o, std::string& why) {
  const std::size_t n = (256u << 20) / sizeof(double);
  lagoon::SharedArray<double> a(rt, {n});
  const auto end = deadline(o);
  running(rt, o);
  long long bad = 0;
  for (int round = 0; go_on(rt, end); ++round) {
    const int root = round % rt.size();
    if (rt.node() == rt.node_of(root)) {
      for (std::size_t i : lagoon::node_share(rt, n)) a.data()[i] = round + static_cast<double>(i % 7);
    }
    a.fence();
    a.publish(root);
    for (std::size_t i : {std::size_t{0}, n / 2, n - 1})
      if (a.data()[i] != round + static_cast<double>(i % 7)) ++bad;
    a.fence();  // every rank of the node has read this round before the next one writes
  }
  if (total(rt, bad) != 0) why = "a published array differs from its root's";
  return why.empty();
}

/// A stream of gets and accumulates (+1) on random rows of a GlobalArray, mostly on
/// other nodes; at the end every increment is there.
bool global(lagoon::Runtime& rt, const Options& o, std::string& why) {
  const std::size_t rows = 4096;
  lagoon::GlobalArray<long> g(rt, {rows, 4});
  std::mt19937_64 random(static_cast<std::uint64_t>(rt.rank()) + 1);
  const auto end = deadline(o);
  running(rt, o);
  long long added = 0;
  std::vector<long> one{1, 1, 1, 1}, out(4);
  while (Clock::now() < end) {
    const std::size_t r = random() % rows;
    g.accumulate(r, r + 1, std::span<const long>(one));
    added += 4;
    if (added % 32 == 0) {
      const std::size_t q = random() % rows;
      g.get(q, q + 1, std::span<long>(out));
    }
  }
  g.fence();
  long long mine = 0;
  if (rt.is_node_leader())
    for (long v : g.local()) mine += v;
  const long long expected = total(rt, added);
  const long long found = total(rt, mine);
  if (found != expected) why = "the array holds " + std::to_string(found) + " increments of " + std::to_string(expected);
  return why.empty();
}

/// Rounds of put (a rotating root puts 8 MiB), fetch on every rank of every node, free.
bool store(lagoon::Runtime& rt, const Options& o, std::string& why) {
  const std::size_t n = (8u << 20) / sizeof(double);
  lagoon::ObjectStore s(rt, 64u << 20);
  const auto end = deadline(o);
  running(rt, o);
  long long bad = 0;
  for (int round = 0; go_on(rt, end); ++round) {
    const int root = round % rt.size();
    lagoon::ObjectRef<std::vector<double>> ref;
    if (rt.rank() == root) ref = s.put(std::vector<double>(n, round));
    ref = lagoon::broadcast(rt, ref, root);
    const auto view = s.get(ref);
    if (view.size() != n || view[0] != round || view[n - 1] != round) ++bad;
    rt.barrier();
    if (rt.rank() == root) s.free(ref);
  }
  if (total(rt, bad) != 0) why = "a fetched object differs from the one put";
  return why.empty();
}

/// Every rank updates counters spread over every node; at the end no update is lost.
bool map(lagoon::Runtime& rt, const Options& o, std::string& why) {
  lagoon::SharedMap<std::string, long> m(rt, 4u << 20);
  const auto end = deadline(o);
  running(rt, o);
  long long done = 0;
  for (long i = 0; Clock::now() < end; ++i, ++done)
    m.update("counter" + std::to_string(i % 64), [](std::optional<long> old) { return old.value_or(0) + 1; });
  rt.barrier();
  long long found = 0;
  if (rt.rank() == 0)
    for (int k = 0; k < 64; ++k) found += m.get("counter" + std::to_string(k)).value_or(0);
  const long long expected = total(rt, done);
  found = total(rt, found);
  if (found != expected) why = "the counters hold " + std::to_string(found) + " updates of " + std::to_string(expected);
  return why.empty();
}

/// Batches of small tasks submitted by every rank, run wherever ranks are free (and
/// stolen across nodes); every result is checked.
bool tasks(lagoon::Runtime& rt, const Options& o, std::string& why) {
  lagoon::ObjectStore s(rt, 64u << 20);
  lagoon::TaskPool pool(rt, s, 16u << 20);
  auto work = pool.define([](long x) {
    long acc = 0;
    for (long i = 0; i < 20000; ++i) acc += (x + i) % 7;
    return acc;
  });
  const auto expected_of = [](long x) {
    long acc = 0;
    for (long i = 0; i < 20000; ++i) acc += (x + i) % 7;
    return acc;
  };
  const auto end = deadline(o);
  running(rt, o);
  long long bad = 0;
  for (long round = 0; Clock::now() < end; ++round) {
    std::vector<lagoon::Future<long>> futures;
    for (long k = 0; k < 16; ++k) futures.push_back(pool.submit(work, round * 16 + k));
    for (long k = 0; k < 16; ++k)
      if (futures[static_cast<std::size_t>(k)].take() != expected_of(round * 16 + k)) ++bad;
  }
  pool.join();
  if (total(rt, bad) != 0) why = "a task's result differs";
  return why.empty();
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  Options o;
  if (argc > 1) o.mode = argv[1];
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--seconds") == 0) o.seconds = std::atof(argv[i + 1]);
  std::string why;
  bool ok = false;
  if (o.mode == "publish")
    ok = publish(rt, o, why);
  else if (o.mode == "global")
    ok = global(rt, o, why);
  else if (o.mode == "store")
    ok = store(rt, o, why);
  else if (o.mode == "map")
    ok = map(rt, o, why);
  else if (o.mode == "tasks")
    ok = tasks(rt, o, why);
  else
    why = "no such mode: " + o.mode + " (publish, global, store, map, tasks)";
  rt.barrier();
  if (rt.rank() == 0) {
    std::printf("lagoon-fault: %s finished: %s%s\n", o.mode.c_str(), ok ? "OK" : "MISMATCH: ", why.c_str());
    std::fflush(stdout);
  }
  return ok ? 0 : 1;
}
