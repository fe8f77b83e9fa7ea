// ObjectStore beside its physical limits and peers, in one run:
//   (a) a local get (the object lives in this node's arena) of 8 B and of 64 MiB:
//       a pin in the node's table, no copy, so the same time whatever the size;
//   (b) a remote get of 64 MiB (owner on the other node, nothing cached) beside
//       MPI_Send/MPI_Recv of the same bytes between the same ranks;
//   (c) put + get of a std::vector<std::string> of 1M short strings (the serialized
//       path) beside Boost.Serialization alone (binary archive to memory and back).
//       benchmarks/pickle_peer.py measures Python's pickle 5 / mpi4py on the same data;
//   (d) publishing 1.5 GB as an object (below);
//   (e) restoring a spilled 1 GiB object beside a sequential read of a file (below).
// Run on 2 ranks as 2 virtual nodes:
//   LAGOON_RANKS_PER_NODE=1 mpirun -np 2 --mca btl self,tcp ./bench_store
#include <fcntl.h>
#include <unistd.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench_main.hpp"

namespace {

using lagoon::bench::runtime;

constexpr int kLocalGets = 100000;
constexpr std::size_t kBig = std::size_t{64} << 20;
constexpr std::size_t kStrings = 1'000'000;

void runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, 1); }

lagoon::ObjectStore& store() {
  static lagoon::ObjectStore s(runtime(), 3 * kBig);
  return s;
}

std::vector<std::string> short_strings() {
  std::vector<std::string> v;
  v.reserve(kStrings);
  for (std::size_t i = 0; i < kStrings; ++i) v.push_back("item-" + std::to_string(i * 2654435761u % 1000000007u));
  return v;
}

/// (a) kLocalGets gets (and view releases) of an object this node owns.
template <class T>
void local_gets(benchmark::State& state, const T& value) {
  auto ref = store().put(value);
  double checksum = 0;
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      for (int i = 0; i < kLocalGets; ++i) {
        auto v = store().get(ref);
        checksum += static_cast<double>(v.size());
      }
    });
  }
  benchmark::DoNotOptimize(checksum);
  store().free(ref);
}

void BM_local_get_8B(benchmark::State& state) { local_gets(state, std::uint64_t{42}); }
void BM_local_get_64MiB(benchmark::State& state) { local_gets(state, std::vector<std::byte>(kBig)); }

/// (b) World rank 0 gets an object that the last rank (another node) put just
/// before; rank 0's node holds no copy of it.
void BM_remote_get_64MiB(benchmark::State& state) {
  auto& rt = runtime();
  auto& s = store();  // made collectively, on every rank, before one rank puts
  const int owner = rt.size() - 1;
  std::vector<std::byte> data;
  if (rt.rank() == owner) data.assign(kBig, std::byte{3});
  for (auto _ : state) {
    lagoon::ObjectRef<std::vector<std::byte>> ref;
    if (rt.rank() == owner) ref = s.put(data);
    MPI_Bcast(&ref, sizeof ref, MPI_BYTE, owner, rt.world());
    rt.barrier();
    const double start = MPI_Wtime();
    double elapsed = 0;
    if (rt.rank() == 0) {
      auto v = s.get(ref);
      elapsed = MPI_Wtime() - start;
      if (!v.fetched() || v[kBig - 1] != std::byte{3}) state.SkipWithError("not fetched");
    }
    lagoon::bench::report_slowest(state, elapsed);
    rt.barrier();
    if (rt.rank() == owner) s.free(ref);
    lagoon::bench::idle_barrier(rt.world());
  }
}

void BM_mpi_send_recv_64MiB(benchmark::State& state) {
  auto& rt = runtime();
  const int owner = rt.size() - 1;
  // Allocated and touched once, as the arenas are: a fresh buffer's first transfer
  // costs several times a warm one (page faults, the single-copy mechanism's setup).
  static std::vector<std::byte> buffer(kBig, std::byte{3});
  for (auto _ : state) {
    rt.barrier();
    const double start = MPI_Wtime();
    double elapsed = 0;
    if (rt.rank() == owner) {
      MPI_Send(buffer.data(), static_cast<int>(kBig), MPI_BYTE, 0, 5, rt.world());
    } else if (rt.rank() == 0) {
      MPI_Recv(buffer.data(), static_cast<int>(kBig), MPI_BYTE, owner, 5, rt.world(), MPI_STATUS_IGNORE);
      elapsed = MPI_Wtime() - start;
    }
    lagoon::bench::report_slowest(state, elapsed);
  }
}

/// (c) Every rank puts its vector of strings and gets it back (serialized path).
void BM_store_put_get_1M_strings(benchmark::State& state) {
  const auto strings = short_strings();
  std::size_t total = 0;
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      auto ref = store().put(strings);
      const auto back = store().get(ref);
      total += back.size();
      store().free(ref);
    });
  }
  if (total != kStrings * state.iterations()) state.SkipWithError("lost strings");
}

/// (c) Boost.Serialization alone: a binary archive into memory and back.
void BM_boost_archive_1M_strings(benchmark::State& state) {
  const auto strings = short_strings();
  std::size_t total = 0;
  std::vector<std::byte> buffer;  // kept between iterations, as the store keeps its own
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      buffer.clear();
      lagoon::detail::ByteSink sink(buffer);
      {
        boost::archive::binary_oarchive out(sink, boost::archive::no_codecvt);
        out << strings;
      }
      lagoon::detail::ByteSource source(buffer);
      boost::archive::binary_iarchive in(source, boost::archive::no_codecvt);
      std::vector<std::string> back;
      in >> back;
      total += back.size();
    });
  }
  if (total != kStrings * state.iterations()) state.SkipWithError("lost strings");
}

// (d) Publishing LAGOON_BENCH_BYTES (1.5 GB) of doubles as something every rank reads:
//     the array alone (create + fill), create + fill + seal in the store, and a filled
//     std::vector put by one rank. Counter: the node's PSS at the end, over the data's
//     bytes (the put's vector still alive: its peak).

std::size_t publish_count() { return lagoon::bench::big_bytes() / sizeof(double); }

lagoon::ObjectStore& big_store() {
  static lagoon::ObjectStore s(runtime(), lagoon::bench::big_bytes() + (std::size_t{64} << 20));
  return s;
}

double node_pss_over_data() {
  double mine = static_cast<double>(lagoon::memory_usage().pss), node = 0;
  MPI_Allreduce(&mine, &node, 1, MPI_DOUBLE, MPI_SUM, runtime().node_comm());
  return node / static_cast<double>(lagoon::bench::big_bytes());
}

void BM_publish_array(benchmark::State& state) {
  auto& rt = runtime();
  double pss = 0;
  for (auto _ : state) {
    std::optional<lagoon::SharedArray<double>> a;
    lagoon::bench::time_step(state, [&] {
      a.emplace(rt, std::vector<std::size_t>{publish_count()});
      for (auto i : lagoon::node_share(rt, publish_count())) (*a)[i] = static_cast<double>(i);
      a->fence();
    });
    pss = node_pss_over_data();
  }
  state.counters["node_pss/data"] = pss;
}

void BM_publish_create_seal(benchmark::State& state) {
  auto& rt = runtime();
  auto& store = big_store();
  double pss = 0;
  for (auto _ : state) {
    lagoon::ObjectRef<std::vector<double>> ref;
    lagoon::bench::time_step(state, [&] {
      auto w = store.create<double>(publish_count());
      for (auto i : lagoon::node_share(rt, publish_count())) w.span()[i] = static_cast<double>(i);
      ref = w.seal();
    });
    pss = node_pss_over_data();
    rt.barrier();
    if (rt.node_rank() == 0) store.free(ref);
    rt.barrier();
  }
  state.counters["node_pss/data"] = pss;
}

void BM_publish_put(benchmark::State& state) {
  auto& rt = runtime();
  auto& store = big_store();
  double pss = 0;
  for (auto _ : state) {
    lagoon::ObjectRef<std::vector<double>> ref;
    std::vector<double> v;
    lagoon::bench::time_step(state, [&] {
      if (rt.rank() == 0) {
        v.resize(publish_count());
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
        ref = store.put(v);
      }
    });
    pss = node_pss_over_data();
    if (rt.rank() == 0) store.free(ref);
    rt.barrier();
  }
  state.counters["node_pss/data"] = pss;
}

// (e) Restoring a spilled 1 GiB object (a get that reads it back from its spill file
//     into the arena) beside a plain sequential read of a 1 GiB file just written in the
//     same directory into a buffer already paged in: the file system's own bandwidth,
//     from the page cache like the spill file. Node leaders only; one store whose arena
//     holds one such object, so a second one spills the first.
constexpr std::size_t kSpilled = std::size_t{1} << 30;

lagoon::ObjectStore& spill_store() {
  static lagoon::ObjectStore s(runtime(), kSpilled + (std::size_t{64} << 20));
  return s;
}

/// A 1 GiB object of this node, filled in place by the node's ranks.
lagoon::ObjectRef<std::vector<char>> filled_object(char value) {
  auto w = spill_store().create<char>(kSpilled);
  for (auto i : lagoon::node_share(runtime(), kSpilled)) w.span()[i] = value;
  return w.seal();
}

void BM_restore_spilled_1GiB(benchmark::State& state) {
  auto& rt = runtime();
  auto& store = spill_store();
  const auto a = filled_object('a');
  bool right = true;
  for (auto _ : state) {
    const auto b = filled_object('b');  // a goes to disk
    rt.barrier();
    if (rt.node_rank() == 0) store.free(b);  // its room is free: the get below only reads
    rt.barrier();
    lagoon::bench::time_step(state, [&] {
      if (rt.node_rank() == 0) {
        const auto v = store.get(a);
        right = right && v[0] == 'a' && v[kSpilled - 1] == 'a';
      }
    });
  }
  const auto stats = store.local_stats();
  state.counters["restores"] = static_cast<double>(stats.restores);
  state.counters["right"] = right ? 1 : 0;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSpilled));
  rt.barrier();
  if (rt.node_rank() == 0) store.free(a);
  rt.barrier();
}

void BM_read_file_1GiB(benchmark::State& state) {
  auto& rt = runtime();
  const std::string dir = rt.settings().spill_dir;
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/bench-read-" + std::to_string(::getpid());
  std::vector<char> buffer;
  if (rt.node_rank() == 0) {
    buffer.assign(kSpilled, 'f');
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(buffer.data(), 1, kSpilled, f) != kSpilled || std::fclose(f) != 0) {
      state.SkipWithError(("cannot write " + path).c_str());
      return;
    }
  }
  for (auto _ : state) {
    lagoon::bench::time_step(state, [&] {
      if (rt.node_rank() != 0) return;
      const int fd = ::open(path.c_str(), O_RDONLY);
      std::size_t done = 0;
      while (fd >= 0 && done < kSpilled) {
        const ssize_t n = ::pread(fd, buffer.data() + done, kSpilled - done, static_cast<off_t>(done));
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      if (fd >= 0) ::close(fd);
      benchmark::DoNotOptimize(buffer.data());
    });
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSpilled));
  if (rt.node_rank() == 0) std::filesystem::remove(path);
}

BENCHMARK(BM_publish_array)->Apply(runs);
BENCHMARK(BM_publish_create_seal)->Apply(runs);
BENCHMARK(BM_publish_put)->Apply(runs);

BENCHMARK(BM_local_get_8B)->Apply(runs);
BENCHMARK(BM_local_get_64MiB)->Apply(runs);
void transfer_runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, 3); }
BENCHMARK(BM_restore_spilled_1GiB)->Apply(transfer_runs);
BENCHMARK(BM_read_file_1GiB)->Apply(transfer_runs);
BENCHMARK(BM_remote_get_64MiB)->Apply(transfer_runs);
BENCHMARK(BM_mpi_send_recv_64MiB)->Apply(transfer_runs);
// Several iterations per run: the first put/get of a run pays the page faults of a
// heap that grows by ~100 MB (1M strings, their archive); later ones measure the work.
void warm_runs(benchmark::internal::Benchmark* b) { lagoon::bench::slowest_rank_runs(b, 10); }
BENCHMARK(BM_store_put_get_1M_strings)->Apply(warm_runs);
BENCHMARK(BM_boost_archive_1M_strings)->Apply(warm_runs);

[[maybe_unused]] const bool registered = [] {
  lagoon::bench::compare("BM_local_get_64MiB", "BM_local_get_8B", "(a) 100,000 local gets: 64 MiB object / 8 B object",
                         "target ~1.0 (no copy)");
  lagoon::bench::compare("BM_mpi_send_recv_64MiB", "BM_remote_get_64MiB",
                         "(b) bandwidth of a remote 64 MiB get / MPI_Send+MPI_Recv", "target >= 0.9");
  lagoon::bench::compare("BM_store_put_get_1M_strings", "BM_boost_archive_1M_strings",
                         "(c) put+get of 1M strings: lagoon / Boost.Serialization alone", "target <= 1.10");
  lagoon::bench::compare("BM_publish_create_seal", "BM_publish_array",
                         "(d) publishing 1.5 GB: create + fill + seal / the array's create + fill", "target <= 1.05");
  lagoon::bench::compare("BM_publish_put", "BM_publish_array",
                         "(d) publishing 1.5 GB: fill + put of a vector / the array's create + fill", "put copies");
  lagoon::bench::compare("BM_read_file_1GiB", "BM_restore_spilled_1GiB",
                         "(e) bandwidth of restoring a spilled 1 GiB object / a sequential read of its size",
                         "target >= 0.8");
  return true;
}();

}  // namespace
