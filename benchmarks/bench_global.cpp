// GlobalArray beside the Global Arrays toolkit (NGA_Get / NGA_Put / NGA_Acc) on the
// same workloads, in the same job, and beside raw MPI_Send/MPI_Recv of the same
// bytes between the same two ranks; random 64 x 64 patches of a 2-d array. World rank 0 asks; the rows live on the last
// node. Run it on 2 ranks, one per (virtual) node, over a network stand-in:
//
//   LAGOON_RANKS_PER_NODE=1 mpirun -np 2 --mca btl self,tcp --mca osc ucx
//       -x UCX_TLS=tcp,self -x LAGOON_RANKS_PER_NODE ./bench_global
//
// (lagoon moves bytes over the TCP BTL; GA, through ARMCI-MPI, over MPI RMA on
// UCX's TCP transport. Without `--mca osc ucx`, Open MPI gives GA's ranks on one
// machine a shared-memory window, and its "remote" gets become memcpy.)
//
// How the owner waits: GA's one-sided calls progress only while the owner is
// inside MPI, so its owner waits in MPI_Barrier. lagoon's owner needs no MPI
// call (its node's service thread answers), so it waits asleep.
#include <ga.h>
#include <macdecls.h>

#include <random>
#include <vector>

#include "bench_main.hpp"

namespace {

using lagoon::bench::runtime;

constexpr std::size_t kRowDoubles = 512;                   // 4 KiB rows
constexpr std::size_t kBlockBytes = std::size_t{64} << 20;  // the owner's block: 64 MiB
constexpr int kRandomGets = 10000;
constexpr int kAccumulates = 100000;
constexpr std::size_t kAccElements = std::size_t{1} << 20;

void runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, 1); }

bool asker() { return runtime().rank() == 0; }
int owner_rank() { return runtime().size() - 1; }

/// The timed part runs on the asking rank only; the others report 0 and wait as
/// `wait` says (outside the measured time of the asker, which is what is reported).
template <class Work, class Wait>
void time_asker(benchmark::State& state, Work work, Wait wait) {
  for (auto _ : state) {
    runtime().barrier();
    const double start = MPI_Wtime();
    if (asker()) work();
    const double elapsed = asker() ? MPI_Wtime() - start : 0.0;
    wait();
    lagoon::bench::report_slowest(state, elapsed);
  }
}

/// Global Arrays, started once (on the MPI that lagoon started) and ended before it.
void ga_session() {
  static bool started = false;
  if (started) return;
  started = true;
  GA_Initialize();
  lagoon::bench::on_shutdown([] { GA_Terminate(); });
}

/// A GA 2-D array of doubles, block rows over the processes (like GlobalArray).
struct GaArray {
  GaArray(int rows, int cols) {
    ga_session();
    int dims[2] = {rows, cols};
    int chunk[2] = {-1, cols};
    handle = NGA_Create(C_DBL, 2, dims, const_cast<char*>("bench"), chunk);
    GA_Zero(handle);
    int lo[2], hi[2];
    NGA_Distribution(handle, owner_rank(), lo, hi);
    owner_first = lo[0];
    owner_rows = hi[0] - lo[0] + 1;
  }
  ~GaArray() { GA_Destroy(handle); }
  int handle = 0;
  int owner_first = 0;
  int owner_rows = 0;
};

std::size_t block_rows() { return kBlockBytes / (kRowDoubles * sizeof(double)); }

// (a) 10,000 gets of one random 4 KiB row of the owner's block.

void BM_lagoon_random_4k_gets(benchmark::State& state) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {block_rows() * static_cast<std::size_t>(rt.node_count()), kRowDoubles});
  const auto theirs = g.rows_of(rt.node_count() - 1);
  std::vector<double> row(kRowDoubles);
  std::mt19937_64 rng(1);
  time_asker(
      state,
      [&] {
        for (int k = 0; k < kRandomGets; ++k) {
          const std::size_t r = theirs.front() + rng() % theirs.size();
          g.get(r, r + 1, row);
        }
      },
      [&] { lagoon::bench::idle_barrier(rt.world()); });
  state.counters["gets/s"] = benchmark::Counter(kRandomGets, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ga_random_4k_gets(benchmark::State& state) {
  GaArray a(static_cast<int>(block_rows()) * runtime().size(), static_cast<int>(kRowDoubles));
  std::vector<double> row(kRowDoubles);
  std::mt19937_64 rng(1);
  int ld[1] = {static_cast<int>(kRowDoubles)};
  time_asker(
      state,
      [&] {
        for (int k = 0; k < kRandomGets; ++k) {
          const int r = a.owner_first + static_cast<int>(rng() % static_cast<unsigned>(a.owner_rows));
          int lo[2] = {r, 0}, hi[2] = {r, static_cast<int>(kRowDoubles) - 1};
          NGA_Get(a.handle, lo, hi, row.data(), ld);
        }
      },
      [] { MPI_Barrier(MPI_COMM_WORLD); });
  state.counters["gets/s"] = benchmark::Counter(kRandomGets, benchmark::Counter::kIsIterationInvariantRate);
}

// (b) the owner's whole 64 MiB block in one get, and the same bytes by MPI_Send/MPI_Recv.

void BM_lagoon_64m_get(benchmark::State& state) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {block_rows() * static_cast<std::size_t>(rt.node_count()), kRowDoubles});
  const auto theirs = g.rows_of(rt.node_count() - 1);
  std::vector<double> out(theirs.size() * kRowDoubles, 1.0);
  time_asker(
      state, [&] { g.get(theirs.front(), theirs.back() + 1, out); },
      [&] { lagoon::bench::idle_barrier(rt.world()); });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlockBytes));
}

void BM_ga_64m_get(benchmark::State& state) {
  GaArray a(static_cast<int>(block_rows()) * runtime().size(), static_cast<int>(kRowDoubles));
  std::vector<double> out(static_cast<std::size_t>(a.owner_rows) * kRowDoubles, 1.0);
  int ld[1] = {static_cast<int>(kRowDoubles)};
  time_asker(
      state,
      [&] {
        int lo[2] = {a.owner_first, 0}, hi[2] = {a.owner_first + a.owner_rows - 1, static_cast<int>(kRowDoubles) - 1};
        NGA_Get(a.handle, lo, hi, out.data(), ld);
      },
      [] { MPI_Barrier(MPI_COMM_WORLD); });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlockBytes));
}

void BM_mpi_send_recv_64m(benchmark::State& state) {
  auto& rt = runtime();
  std::vector<std::byte> buffer(asker() || rt.rank() == owner_rank() ? kBlockBytes : 0, std::byte{1});
  const MPI_Comm comm = rt.world();
  for (auto _ : state) {
    rt.barrier();
    const double start = MPI_Wtime();
    if (asker())
      MPI_Recv(buffer.data(), static_cast<int>(kBlockBytes), MPI_BYTE, owner_rank(), 7, comm, MPI_STATUS_IGNORE);
    else if (rt.rank() == owner_rank())
      MPI_Send(buffer.data(), static_cast<int>(kBlockBytes), MPI_BYTE, 0, 7, comm);
    lagoon::bench::report_slowest(state, asker() ? MPI_Wtime() - start : 0.0);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlockBytes));
}

/// The floor under (a): 10,000 round trips of a 32-byte request and a 4 KiB answer
/// between the same two ranks, answered by the owner's main thread blocked in MPI_Recv.
void BM_mpi_round_trips_4k(benchmark::State& state) {
  auto& rt = runtime();
  std::vector<std::byte> request(32), answer(4096);
  const MPI_Comm comm = rt.world();
  for (auto _ : state) {
    rt.barrier();
    const double start = MPI_Wtime();
    for (int k = 0; k < kRandomGets; ++k) {
      if (asker()) {
        MPI_Request r;
        MPI_Irecv(answer.data(), 4096, MPI_BYTE, owner_rank(), 8, comm, &r);
        MPI_Send(request.data(), 32, MPI_BYTE, owner_rank(), 9, comm);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
      } else if (rt.rank() == owner_rank()) {
        MPI_Recv(request.data(), 32, MPI_BYTE, 0, 9, comm, MPI_STATUS_IGNORE);
        MPI_Send(answer.data(), 4096, MPI_BYTE, 0, 8, comm);
      }
    }
    lagoon::bench::report_slowest(state, asker() ? MPI_Wtime() - start : 0.0);
  }
}

// (c) 100,000 accumulates of one double at random places of the owner's block,
//     completed (fence / GA_Sync) inside the measured time.

void BM_lagoon_random_8b_accumulates(benchmark::State& state) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {kAccElements * static_cast<std::size_t>(rt.node_count())});
  const auto theirs = g.rows_of(rt.node_count() - 1);
  std::mt19937_64 rng(2);
  const double one[1] = {1.0};
  for (auto _ : state) {
    rt.barrier();
    const double start = MPI_Wtime();
    if (asker())
      for (int k = 0; k < kAccumulates; ++k) {
        const std::size_t r = theirs.front() + rng() % theirs.size();
        g.accumulate(r, r + 1, one);
      }
    lagoon::bench::idle_barrier(rt.world());
    g.fence();
    lagoon::bench::report_slowest(state, asker() ? MPI_Wtime() - start : 0.0);
  }
  state.counters["acc/s"] = benchmark::Counter(kAccumulates, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ga_random_8b_accumulates(benchmark::State& state) {
  ga_session();
  int dims[1] = {static_cast<int>(kAccElements) * runtime().size()};
  int chunk[1] = {-1};
  const int handle = NGA_Create(C_DBL, 1, dims, const_cast<char*>("acc"), chunk);
  GA_Zero(handle);
  int lo[1], hi[1];
  NGA_Distribution(handle, owner_rank(), lo, hi);
  std::mt19937_64 rng(2);
  double one = 1.0;
  double alpha = 1.0;
  int ld[1] = {1};
  for (auto _ : state) {
    runtime().barrier();
    const double start = MPI_Wtime();
    if (asker())
      for (int k = 0; k < kAccumulates; ++k) {
        int at[1] = {lo[0] + static_cast<int>(rng() % static_cast<unsigned>(hi[0] - lo[0] + 1))};
        NGA_Acc(handle, at, at, &one, ld, &alpha);
      }
    MPI_Barrier(MPI_COMM_WORLD);
    GA_Sync();
    lagoon::bench::report_slowest(state, asker() ? MPI_Wtime() - start : 0.0);
  }
  GA_Destroy(handle);
  state.counters["acc/s"] = benchmark::Counter(kAccumulates, benchmark::Counter::kIsIterationInvariantRate);
}

// (d) 500 gets of a random 64 x 64 patch (32 KiB, 64 strided pieces of 512 bytes) of
//     the owner's block of a 2-d array of 1,024 columns.

constexpr int kPatchGets = 500;
constexpr std::size_t kPatchCols = 1024;
constexpr std::size_t kPatch = 64;

void BM_lagoon_random_64x64_patches(benchmark::State& state) {
  auto& rt = runtime();
  const std::size_t rows = kBlockBytes / 2 / (kPatchCols * sizeof(double));
  lagoon::GlobalArray<double> g(rt, {rows * static_cast<std::size_t>(rt.node_count()), kPatchCols});
  const auto theirs = g.rows_of(rt.node_count() - 1);
  std::vector<double> tile(kPatch * kPatch);
  std::mt19937_64 rng(3);
  time_asker(
      state,
      [&] {
        for (int k = 0; k < kPatchGets; ++k) {
          const std::size_t r = theirs.front() + rng() % (theirs.size() - kPatch);
          const std::size_t c = rng() % (kPatchCols - kPatch);
          g.get({r, c}, {r + kPatch, c + kPatch}, tile);
        }
      },
      [&] { lagoon::bench::idle_barrier(rt.world()); });
  state.counters["gets/s"] = benchmark::Counter(kPatchGets, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ga_random_64x64_patches(benchmark::State& state) {
  const int rows = static_cast<int>(kBlockBytes / 2 / (kPatchCols * sizeof(double)));
  GaArray a(rows * runtime().size(), static_cast<int>(kPatchCols));
  std::vector<double> tile(kPatch * kPatch);
  std::mt19937_64 rng(3);
  int ld[1] = {static_cast<int>(kPatch)};
  const int p = static_cast<int>(kPatch);
  time_asker(
      state,
      [&] {
        for (int k = 0; k < kPatchGets; ++k) {
          const int r = a.owner_first + static_cast<int>(rng() % static_cast<unsigned>(a.owner_rows - p));
          const int c = static_cast<int>(rng() % (kPatchCols - kPatch));
          int lo[2] = {r, c}, hi[2] = {r + p - 1, c + p - 1};  // GA's bounds are inclusive
          NGA_Get(a.handle, lo, hi, tile.data(), ld);
        }
      },
      [] { MPI_Barrier(MPI_COMM_WORLD); });
  state.counters["gets/s"] = benchmark::Counter(kPatchGets, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_lagoon_random_4k_gets)->Apply(runs);
BENCHMARK(BM_ga_random_4k_gets)->Apply(runs);
BENCHMARK(BM_mpi_round_trips_4k)->Apply(runs);
BENCHMARK(BM_lagoon_64m_get)->Apply(runs);
BENCHMARK(BM_ga_64m_get)->Apply(runs);
BENCHMARK(BM_mpi_send_recv_64m)->Apply(runs);
BENCHMARK(BM_lagoon_random_8b_accumulates)->Apply(runs);
BENCHMARK(BM_lagoon_random_64x64_patches)->Apply(runs);
BENCHMARK(BM_ga_random_64x64_patches)->Apply(runs);
BENCHMARK(BM_ga_random_8b_accumulates)->Apply(runs);

const bool registered = [] {
  lagoon::bench::compare("BM_lagoon_random_4k_gets", "BM_ga_random_4k_gets", "(a) 10,000 random 4 KiB remote gets: lagoon / GA",
                         "time ratio; target <= 1.0");
  lagoon::bench::compare("BM_lagoon_random_4k_gets", "BM_mpi_round_trips_4k",
                         "(a) 10,000 random 4 KiB remote gets: lagoon / raw MPI round trips", "the floor of a message path");
  lagoon::bench::compare("BM_lagoon_64m_get", "BM_ga_64m_get", "(b) 64 MiB remote get: lagoon / GA", "target <= 1.0");
  lagoon::bench::compare("BM_lagoon_64m_get", "BM_mpi_send_recv_64m", "(b) 64 MiB remote get: lagoon / MPI_Send+MPI_Recv",
                         "target <= 1.11, i.e. >= 0.9 of the bandwidth");
  lagoon::bench::compare("BM_lagoon_random_8b_accumulates", "BM_ga_random_8b_accumulates",
                         "(c) 100,000 random 8-byte accumulates: lagoon / GA", "target <= 1.0");
  lagoon::bench::compare("BM_lagoon_random_64x64_patches", "BM_ga_random_64x64_patches",
                         "(d) 500 random 64x64 patch gets: lagoon / GA", "target <= 1.0");
  return true;
}();

}  // namespace
