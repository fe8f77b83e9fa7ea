// Loading files: load_npy (into a SharedArray) and load_npy_global (into a GlobalArray)
// of a LAGOON_BENCH_BYTES float64 file (1.5 GB by default) beside `cat file > /dev/null`
// (the file system's own read bandwidth) from a warm and a cold page cache, and beside
// NumPy's np.load; packed against aligned record files of the seed's size (240 MB of
// 32-byte trades); load_hdf5 beside h5py's read of the same dataset. Run it on 2 ranks,
// on one node and on two virtual nodes:
//
//   mpirun -np 2 ./bench_io
//   LAGOON_RANKS_PER_NODE=1 mpirun -np 2 --mca btl self,tcp -x LAGOON_RANKS_PER_NODE ./bench_io
//
// Files go to LAGOON_BENCH_DIR (default /var/tmp/lagoon-bench-io: a disk, not tmpfs) and
// are removed at the end. A cold read first evicts the file from the page cache
// (posix_fadvise DONTNEED), for lagoon and its peers alike. The Python peers
// (io_peer.py) time their read inside Python, so the interpreter's start is not counted.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench_main.hpp"
#ifdef LAGOON_BENCH_HDF5
#include <lagoon/hdf5.hpp>
#endif

namespace {

using lagoon::bench::runtime;

struct Trade {
  lagoon::datetime64 when;
  double price;
  std::int64_t qty;
  lagoon::fixed_string<6> code;
};
BOOST_DESCRIBE_STRUCT(Trade, (), (when, price, qty, code))

constexpr std::size_t kTradeBytes = 240'000'000;  // the seed's record file

void runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, 1); }

std::string folder() {
  const char* d = std::getenv("LAGOON_BENCH_DIR");
  return d ? d : "/var/tmp/lagoon-bench-io";
}

std::string path(const char* name) { return folder() + "/" + name; }

/// Evicts `file` from the page cache (world rank 0; the cache is the machine's).
void evict(const std::string& file) {
  if (runtime().rank() != 0) return;
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

/// The files, written once (by lagoon, in the layouts the benchmarks read).
void make_files() {
  static bool made = false;
  if (made) return;
  made = true;
  auto& rt = runtime();
  if (rt.rank() == 0) std::filesystem::create_directories(folder());
  {
    lagoon::SharedArray<double> a(rt, {lagoon::bench::big_bytes() / sizeof(double)});
    for (auto i : lagoon::node_share(rt, a.size())) a[i] = static_cast<double>(i % 1000) * 0.5;
    a.fence();
    lagoon::save_npy(a, path("f8.npy"));
#ifdef LAGOON_BENCH_HDF5
    lagoon::save_hdf5(a, path("f8.h5"), "/x");
#endif
  }
  lagoon::SharedArray<Trade> t(rt, {kTradeBytes / sizeof(Trade)});
  for (auto i : lagoon::node_share(rt, t.size()))
    t[i] = Trade{lagoon::datetime64(std::chrono::nanoseconds(static_cast<std::int64_t>(i))), 0.5 * static_cast<double>(i),
                 static_cast<std::int64_t>(i), "ABCDEF"};
  t.fence();
  lagoon::save_npy(t, path("trades_aligned.npy"));
  lagoon::save_npy(t, path("trades_packed.npy"), lagoon::npy_layout::packed);
  lagoon::bench::on_shutdown([] {
    runtime().barrier();
    if (runtime().rank() == 0) std::filesystem::remove_all(folder());
  });
}

/// World rank 0 runs `command` (a shell line) and returns its standard output; the
/// other ranks wait asleep.
std::string on_rank0(const std::string& command) {
  std::string out;
  if (runtime().rank() == 0) {
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe) {
      char buffer[256];
      while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
      ::pclose(pipe);
    }
  }
  return out;
}

/// Times `load()` on every rank (the slowest rank's time), from a warm or cold cache.
template <class Load>
void time_load(benchmark::State& state, const std::string& file, bool cold, Load load) {
  make_files();
  for (auto _ : state) {
    if (cold) evict(file);
    lagoon::bench::time_step(state, [&] { benchmark::DoNotOptimize(load()); });
  }
}

/// A peer's own timing of one read, printed by it (world rank 0).
void time_peer(benchmark::State& state, const std::string& file, bool cold, const std::string& command) {
  make_files();
  auto& rt = runtime();
  for (auto _ : state) {
    if (cold) evict(file);
    rt.barrier();
    double seconds = 0;
    if (rt.rank() == 0) {
      const double start = MPI_Wtime();
      const std::string printed = on_rank0(command);
      seconds = printed.empty() ? MPI_Wtime() - start : std::stod(printed);
    }
    lagoon::bench::idle_barrier(rt.world());
    lagoon::bench::report_slowest(state, seconds);
  }
}

std::string peer(const std::string& args) { return "/usr/bin/python3 " LAGOON_IO_PEER " " + args; }

void bytes(benchmark::State& state, std::size_t n) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// ---- A float64 file ---------------------------------------------------------------

void BM_cat_warm(benchmark::State& state) {
  time_peer(state, path("f8.npy"), false, "cat " + path("f8.npy") + " > /dev/null");
  bytes(state, lagoon::bench::big_bytes());
}
void BM_cat_cold(benchmark::State& state) {
  time_peer(state, path("f8.npy"), true, "cat " + path("f8.npy") + " > /dev/null");
  bytes(state, lagoon::bench::big_bytes());
}
void BM_load_npy_shared_warm(benchmark::State& state) {
  time_load(state, path("f8.npy"), false, [] { return lagoon::load_npy<double>(runtime(), path("f8.npy")).size(); });
  bytes(state, lagoon::bench::big_bytes());
}
void BM_load_npy_shared_cold(benchmark::State& state) {
  time_load(state, path("f8.npy"), true, [] { return lagoon::load_npy<double>(runtime(), path("f8.npy")).size(); });
  bytes(state, lagoon::bench::big_bytes());
}
void BM_load_npy_global_warm(benchmark::State& state) {
  time_load(state, path("f8.npy"), false,
            [] { return lagoon::load_npy_global<double>(runtime(), path("f8.npy")).size(); });
  bytes(state, lagoon::bench::big_bytes());
}
void BM_load_npy_global_cold(benchmark::State& state) {
  time_load(state, path("f8.npy"), true,
            [] { return lagoon::load_npy_global<double>(runtime(), path("f8.npy")).size(); });
  bytes(state, lagoon::bench::big_bytes());
}
void BM_numpy_load_warm(benchmark::State& state) {
  time_peer(state, path("f8.npy"), false, peer("npy " + path("f8.npy")));
  bytes(state, lagoon::bench::big_bytes());
}

// ---- Records: aligned (read straight in) and packed (repacked) ---------------------

void BM_load_trades_aligned(benchmark::State& state) {
  time_load(state, path("trades_aligned.npy"), false,
            [] { return lagoon::load_npy<Trade>(runtime(), path("trades_aligned.npy")).size(); });
  bytes(state, kTradeBytes);
}
void BM_load_trades_packed(benchmark::State& state) {
  time_load(state, path("trades_packed.npy"), false,
            [] { return lagoon::load_npy<Trade>(runtime(), path("trades_packed.npy")).size(); });
  bytes(state, kTradeBytes);
}
void BM_numpy_load_trades_packed(benchmark::State& state) {
  time_peer(state, path("trades_packed.npy"), false, peer("npy " + path("trades_packed.npy")));
  bytes(state, kTradeBytes);
}

BENCHMARK(BM_cat_warm)->Apply(runs);
BENCHMARK(BM_load_npy_shared_warm)->Apply(runs);
BENCHMARK(BM_load_npy_global_warm)->Apply(runs);
BENCHMARK(BM_numpy_load_warm)->Apply(runs);
BENCHMARK(BM_cat_cold)->Apply(runs);
BENCHMARK(BM_load_npy_shared_cold)->Apply(runs);
BENCHMARK(BM_load_npy_global_cold)->Apply(runs);
BENCHMARK(BM_load_trades_aligned)->Apply(runs);
BENCHMARK(BM_load_trades_packed)->Apply(runs);
BENCHMARK(BM_numpy_load_trades_packed)->Apply(runs);

#ifdef LAGOON_BENCH_HDF5
// ---- HDF5 ---------------------------------------------------------------------------

void BM_load_hdf5_shared(benchmark::State& state) {
  time_load(state, path("f8.h5"), false, [] { return lagoon::load_hdf5<double>(runtime(), path("f8.h5"), "/x").size(); });
  bytes(state, lagoon::bench::big_bytes());
}
void BM_load_hdf5_global(benchmark::State& state) {
  time_load(state, path("f8.h5"), false,
            [] { return lagoon::load_hdf5_global<double>(runtime(), path("f8.h5"), "/x").size(); });
  bytes(state, lagoon::bench::big_bytes());
}
void BM_h5py_read(benchmark::State& state) {
  time_peer(state, path("f8.h5"), false, peer("h5 " + path("f8.h5") + " /x"));
  bytes(state, lagoon::bench::big_bytes());
}
BENCHMARK(BM_load_hdf5_shared)->Apply(runs);
BENCHMARK(BM_load_hdf5_global)->Apply(runs);
BENCHMARK(BM_h5py_read)->Apply(runs);
#endif

const bool registered = [] {
  using lagoon::bench::compare;
  compare("BM_load_npy_shared_warm", "BM_cat_warm", "load_npy (SharedArray) / cat, warm cache",
          "time ratio; target <= 1.25 (>= 0.8 of cat's bandwidth)");
  compare("BM_load_npy_global_warm", "BM_cat_warm", "load_npy_global (GlobalArray) / cat, warm cache",
          "target <= 1.25");
  compare("BM_load_npy_shared_cold", "BM_cat_cold", "load_npy (SharedArray) / cat, cold cache", "the disk's pace");
  compare("BM_load_npy_global_cold", "BM_cat_cold", "load_npy_global (GlobalArray) / cat, cold cache",
          "the disk's pace");
  compare("BM_load_npy_shared_warm", "BM_numpy_load_warm", "load_npy (SharedArray) / np.load, warm cache",
          "time ratio");
  compare("BM_load_trades_packed", "BM_load_trades_aligned", "240 MB of trades: packed / aligned",
          "the repacking's cost; target <= 1.3");
  compare("BM_load_trades_packed", "BM_numpy_load_trades_packed", "240 MB of packed trades: load_npy / np.load",
          "time ratio");
#ifdef LAGOON_BENCH_HDF5
  compare("BM_load_hdf5_shared", "BM_h5py_read", "load_hdf5 (SharedArray) / h5py read", "target <= 1.0");
  compare("BM_load_hdf5_global", "BM_h5py_read", "load_hdf5_global (GlobalArray) / h5py read", "target <= 1.0");
#endif
  return true;
}();

}  // namespace
