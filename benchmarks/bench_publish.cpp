// publish() between nodes beside MPI_Bcast of the same bytes among the node
// leaders, from private buffers (a plain MPI program) and from shared segments
// (the same memory publish() moves: what is left is lagoon's own overhead).
// Needs two or more (virtual) nodes: LAGOON_RANKS_PER_NODE=k under mpirun.
#include <vector>

#include "bench_main.hpp"

namespace {

using lagoon::bench::runtime;

constexpr int kIterations = 5;
void runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, kIterations); }

std::size_t publish_bytes() { return std::min<std::size_t>(lagoon::bench::big_bytes(), std::size_t{512} << 20); }

void BM_publish(benchmark::State& state) {
  auto& rt = runtime();
  const std::size_t bytes = publish_bytes();
  lagoon::SharedArray<std::byte> a(rt, {bytes});
  for (auto i : lagoon::node_share(rt, bytes)) a[i] = static_cast<std::byte>(i * 31 + rt.node());
  a.fence();
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] { a.publish(0); });
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["nodes"] = rt.node_count();
}

/// Times the leaders' broadcast of `data`; the other ranks of each node wait in a
/// sleeping barrier until their leader is done.
void time_leader_bcast(benchmark::State& state, std::byte* data, std::size_t bytes) {
  auto& rt = runtime();
  for (auto _ : state) {
    rt.barrier();
    const double start = MPI_Wtime();
    if (rt.is_node_leader()) lagoon::mpi::bcast_bytes(data, bytes, 0, rt.leader_comm(), rt.settings().max_message_bytes);
    lagoon::bench::idle_barrier(rt.node_comm());
    lagoon::bench::report_slowest(state, MPI_Wtime() - start);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["nodes"] = rt.node_count();
}

void BM_bcast_leaders(benchmark::State& state) {
  auto& rt = runtime();
  const std::size_t bytes = publish_bytes();
  std::vector<std::byte> buffer(rt.is_node_leader() ? bytes : 0);
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<std::byte>(i * 31 + rt.node());
  time_leader_bcast(state, buffer.data(), bytes);
}

void BM_bcast_leaders_window(benchmark::State& state) {
  auto& rt = runtime();
  const std::size_t bytes = publish_bytes();
  lagoon::Segment window(rt, bytes);
  for (auto i : lagoon::node_share(rt, bytes)) window.data()[i] = static_cast<std::byte>(i * 31 + rt.node());
  window.fence();
  time_leader_bcast(state, window.data(), bytes);
}

BENCHMARK(BM_publish)->Apply(runs);
BENCHMARK(BM_bcast_leaders)->Apply(runs);
BENCHMARK(BM_bcast_leaders_window)->Apply(runs);

const bool registered = [] {
  lagoon::bench::compare("BM_publish", "BM_bcast_leaders", "publish 512 MiB / MPI_Bcast among leaders, private buffers",
                         "time ratio; target <= 1.11, i.e. >= 0.9 of the throughput");
  lagoon::bench::compare("BM_publish", "BM_bcast_leaders_window",
                         "publish 512 MiB / MPI_Bcast among leaders, shared segments", "lagoon's own overhead");
  return true;
}();

}  // namespace
