// Shared support for lagoon's benchmarks under mpirun: the Runtime, timing of
// the slowest rank, idle waiting that leaves the cores to the measured work,
// and side-by-side ratios printed after the run.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <functional>
#include <lagoon/lagoon.hpp>
#include <string>
#include <vector>

namespace lagoon::bench {

lagoon::Runtime& runtime();

/// Bytes of the big arrays: LAGOON_BENCH_BYTES, default 1.5e9 (the articles' 1.5 GB).
std::size_t big_bytes();

/// Sets the iteration's manual time to the slowest rank's `seconds`. @note collective
void report_slowest(benchmark::State& state, double seconds);

/// One iteration of every rank: a barrier, then `step()`, timed; the slowest rank's
/// time is the iteration's. @note collective
template <class F>
void time_step(benchmark::State& state, F&& step) {
  runtime().barrier();
  const double start = MPI_Wtime();
  step();
  report_slowest(state, MPI_Wtime() - start);
}

/// A barrier that sleeps instead of spinning, for ranks that sit out a peer's
/// single-process run (an MPI barrier would poll a core the peer needs).
void idle_barrier(MPI_Comm comm);

/// While alive, this thread (and the threads it starts) may run on every online
/// core: mpirun binds each rank to one core, which would squeeze a single-process
/// peer's threads onto it.
class AllCores {
 public:
  AllCores();
  ~AllCores();
  AllCores(const AllCores&) = delete;
  AllCores& operator=(const AllCores&) = delete;

 private:
  std::vector<unsigned char> saved_;
};

/// The run settings of every MPI benchmark: manual (slowest-rank) time, a fixed
/// iteration count (all ranks must run the same collectives), 5 repetitions
/// reported as aggregates, milliseconds. Use as `BENCHMARK(f)->Apply(...)`.
inline void slowest_rank_runs(benchmark::internal::Benchmark* b, int iterations) {
  b->UseManualTime()->Iterations(iterations)->Repetitions(5)->ReportAggregatesOnly(true)->Unit(benchmark::kMillisecond);
}

/// Runs `f` after the benchmarks, before the Runtime ends MPI (a peer library's
/// own shutdown, for instance).
void on_shutdown(std::function<void()> f);

/// Asks for "label: <a> / <b> = ratio" (median times) after the run; `target`
/// says what the ratio should be, in words.
void compare(std::string a, std::string b, std::string label, std::string target);

}  // namespace lagoon::bench
