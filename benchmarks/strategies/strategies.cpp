// The strategies table, C++ side: one float64 array (1.5 GB by default), summed by
// one worker per core, shared each way a C++ program can share it. For each way:
// the time to start the workers (setup, reported apart, as the article did), the
// time to share the array with them, the time for all of them to sum it (and to sum
// it again, still attached: "warm"), and the memory that costs the machine (growth
// of the summed PSS of every process involved).
//
//   strategies --group posix --workers 4 [--gb 1.5] [--repeat 3]    (no mpirun: forked workers)
//   mpirun -np 4 strategies --group mpi [--gb 1.5] [--repeat 3]    (MPI ranks as workers)
// Options: --huge-dir DIR (posix: also a file in that huge-page tmpfs), --lagoon-only 1
// and --suffix TEXT (mpi: only lagoon's rows, their names suffixed, e.g. run again with
// LAGOON_SHM_DIR on a huge-page tmpfs).
//
// Prints one JSON object per strategy and line; benchmarks/strategies/report.py
// makes the table and the chart from them and from strategies.py's lines.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <lagoon/lagoon.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../sum_lanes.hpp"

namespace {

struct Options {
  std::string group;
  std::string huge_dir;  // posix: also map a file in this huge-page tmpfs
  std::string suffix;    // mpi: appended to the lagoon rows' names (e.g. ", huge pages")
  bool lagoon_only = false;
  double gb = 1.5;
  int repeat = 3;
  int workers = 0;
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
double pss() { return static_cast<double>(lagoon::memory_usage().pss); }

/// The same array everywhere: integers 0..999 as float64 (from splitmix64), so every
/// strategy's sum is exact and must equal `expected` bit for bit.
std::vector<double> make_data(std::size_t n, double& expected) {
  std::vector<double> data(n);
  std::uint64_t state = 12345, total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    const std::uint64_t v = (z ^ (z >> 31)) % 1000;
    data[i] = static_cast<double>(v);
    total += v;
  }
  expected = static_cast<double>(total);
  return data;
}

using lagoon::bench::sum_lanes;

struct Row {
  std::string strategy;
  std::vector<double> setup, share, sum, warm;  // warm: a second sum, the workers still attached
  double memory = 0;                            // bytes, the most over the repetitions
  double result = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void print(const Row& r, const char* group, int workers, std::size_t bytes, double expected) {
  std::printf(
      "{\"language\": \"C++\", \"group\": \"%s\", \"strategy\": \"%s\", \"workers\": %d, \"bytes\": %zu, "
      "\"repeats\": %zu, \"setup_ms\": %.3f, \"share_ms\": %.3f, \"sum_ms\": %.3f, \"warm_sum_ms\": %.3f, "
      "\"memory_bytes\": %.0f, "
      "\"sum\": %.1f, \"expected\": %.1f}\n",
      group, r.strategy.c_str(), workers, bytes, r.sum.size(), median(r.setup) * 1e3, median(r.share) * 1e3,
      median(r.sum) * 1e3, median(r.warm) * 1e3, r.memory, r.result, expected);
  std::fflush(stdout);
}

// ---- Forked workers (no MPI) ------------------------------------------------------

enum class Posix { cow, shm, file_tmp, file_shm, file_huge };

struct Task {
  char name[200];  // the shm object or the file to map; empty: the inherited array
  bool posix_shm;  // name is a shm_open name, not a path
  std::size_t begin, end, total;
};

void write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w <= 0) throw std::runtime_error("pipe write failed");
    c += w, n -= static_cast<std::size_t>(w);
  }
}
void read_all(int fd, void* p, std::size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r <= 0) throw std::runtime_error("pipe read failed");
    c += r, n -= static_cast<std::size_t>(r);
  }
}

/// A forked worker: reports ready (with its PSS), maps what it is told, sums its
/// slice, reports, and unmaps when released.
[[noreturn]] void worker(int in, int out, const std::vector<double>& inherited) {
  double ready = pss();
  write_all(out, &ready, sizeof ready);
  Task task{};
  read_all(in, &task, sizeof task);
  const double* data = inherited.data();
  void* map = nullptr;
  const std::size_t bytes = task.total * sizeof(double);
  if (task.name[0] != '\0') {
    const int fd = task.posix_shm ? ::shm_open(task.name, O_RDONLY, 0) : ::open(task.name, O_RDONLY);
    map = fd < 0 ? MAP_FAILED : ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (fd >= 0) ::close(fd);
    if (map == MAP_FAILED) ::_exit(3);
    data = static_cast<const double*>(map);
  }
  const double sum = sum_lanes(data + task.begin, task.end - task.begin);
  write_all(out, &sum, sizeof sum);
  char go = 0;
  read_all(in, &go, 1);  // the warm sum starts on every worker at once, as the first did
  const double again = sum_lanes(data + task.begin, task.end - task.begin);
  write_all(out, &again, sizeof again);
  const double memory = pss();  // after the sum is in (reading smaps_rollup takes a while)
  write_all(out, &memory, sizeof memory);
  char release = 0;
  read_all(in, &release, 1);
  if (map) ::munmap(map, bytes);
  ::_exit(0);
}

Row run_posix(Posix kind, const std::vector<double>& data, int workers, int repeat, const std::string& huge_dir) {
  static const char* names[] = {"fork copy-on-write", "POSIX shm_open + mmap", "mmap of a file in /tmp",
                                "mmap of a file in /dev/shm", "mmap of a file in a huge-page tmpfs"};
  Row row{names[static_cast<int>(kind)], {}, {}, {}, {}, 0, 0};
  const std::size_t n = data.size(), bytes = n * sizeof(double);
  const std::string pid = std::to_string(::getpid());
  const std::string name = kind == Posix::shm         ? "/lagoon-bench-" + pid
                           : kind == Posix::file_tmp  ? "/tmp/lagoon-bench-" + pid
                           : kind == Posix::file_shm  ? "/dev/shm/lagoon-bench-file-" + pid
                           : kind == Posix::file_huge ? huge_dir + "/lagoon-bench-file-" + pid
                                                      : "";
  for (int rep = 0; rep < repeat; ++rep) {
    // Setup: start the workers (a process pool).
    double t = now();
    std::vector<pid_t> pids;
    std::vector<int> to, from;
    for (int w = 0; w < workers; ++w) {
      int down[2], up[2];
      if (::pipe(down) != 0 || ::pipe(up) != 0) throw std::runtime_error("pipe failed");
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(down[1]), ::close(up[0]);
        worker(down[0], up[1], data);
      }
      ::close(down[0]), ::close(up[1]);
      pids.push_back(pid), to.push_back(down[1]), from.push_back(up[0]);
    }
    double before = 0;  // every process's PSS once the workers run: the parent's and theirs
    for (int w = 0; w < workers; ++w) {
      double ready = 0;
      read_all(from[static_cast<std::size_t>(w)], &ready, sizeof ready);
      before += ready;
    }
    row.setup.push_back(now() - t);
    before += pss();

    // Share: put the array where the workers can map it.
    t = now();
    void* map = nullptr;
    if (kind != Posix::cow) {
      const int fd = kind == Posix::shm ? ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600)
                                        : ::open(name.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
      if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
        throw std::runtime_error("cannot create " + name + ": " + std::strerror(errno));
      map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      ::close(fd);
      if (map == MAP_FAILED) throw std::runtime_error("mmap failed: " + std::string(std::strerror(errno)));
      std::memcpy(map, data.data(), bytes);
    }
    row.share.push_back(now() - t);

    // Sum: every worker maps the array and sums its slice.
    t = now();
    for (int w = 0; w < workers; ++w) {
      Task task{};
      std::snprintf(task.name, sizeof task.name, "%s", name.c_str());
      task.posix_shm = kind == Posix::shm;
      task.begin = n * static_cast<std::size_t>(w) / static_cast<std::size_t>(workers);
      task.end = n * static_cast<std::size_t>(w + 1) / static_cast<std::size_t>(workers);
      task.total = n;
      write_all(to[static_cast<std::size_t>(w)], &task, sizeof task);
    }
    double total = 0, peak = 0;
    for (int w = 0; w < workers; ++w) {
      double sum = 0;
      read_all(from[static_cast<std::size_t>(w)], &sum, sizeof sum);
      total += sum;
    }
    row.sum.push_back(now() - t);
    t = now();
    for (int w = 0; w < workers; ++w) {
      const char go = 1;
      write_all(to[static_cast<std::size_t>(w)], &go, 1);
    }
    for (int w = 0; w < workers; ++w) {
      double again = 0;
      read_all(from[static_cast<std::size_t>(w)], &again, sizeof again);
    }
    row.warm.push_back(now() - t);
    for (int w = 0; w < workers; ++w) {
      double memory = 0;
      read_all(from[static_cast<std::size_t>(w)], &memory, sizeof memory);
      peak += memory;
    }
    row.result = total;
    row.memory = std::max(row.memory, peak + pss() - before);  // the peak over repetitions

    for (int w = 0; w < workers; ++w) {
      const char release = 1;
      write_all(to[static_cast<std::size_t>(w)], &release, 1);
      ::close(to[static_cast<std::size_t>(w)]), ::close(from[static_cast<std::size_t>(w)]);
      int status = 0;
      ::waitpid(pids[static_cast<std::size_t>(w)], &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("a worker failed");
    }
    if (map) ::munmap(map, bytes);
    if (kind == Posix::shm) ::shm_unlink(name.c_str());
    if (!name.empty() && kind != Posix::shm) ::unlink(name.c_str());
  }
  return row;
}

// ---- MPI ranks as workers ---------------------------------------------------------

/// Times `step` on the slowest rank.
template <class F>
double timed(const lagoon::Runtime& rt, F&& step) {
  rt.barrier();
  const double t = MPI_Wtime();
  step();
  double elapsed = MPI_Wtime() - t;
  MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, rt.world());
  return elapsed;
}

/// Every rank sums its [begin, end) of `data`; the world's total.
double sum_everywhere(const lagoon::Runtime& rt, const double* data, std::size_t begin, std::size_t end) {
  const double part = sum_lanes(data + begin, end - begin);
  double total = 0;
  MPI_Allreduce(&part, &total, 1, MPI_DOUBLE, MPI_SUM, rt.world());
  return total;
}

double node_memory(const lagoon::Runtime& rt) {
  double mine = pss(), all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_DOUBLE, MPI_SUM, rt.world());
  return all;
}

constexpr std::size_t kPiece = std::size_t{1} << 30;  // MPI counts are ints

void send_bytes(const std::string& s, int to, MPI_Comm comm) {
  std::uint64_t size = s.size();
  MPI_Send(&size, 1, MPI_UINT64_T, to, 0, comm);
  for (std::size_t off = 0; off < s.size(); off += kPiece)
    MPI_Send(s.data() + off, static_cast<int>(std::min(kPiece, s.size() - off)), MPI_BYTE, to, 1, comm);
}
std::string receive_bytes(MPI_Comm comm) {
  std::uint64_t size = 0;
  MPI_Recv(&size, 1, MPI_UINT64_T, 0, 0, comm, MPI_STATUS_IGNORE);
  std::string s(size, '\0');
  for (std::size_t off = 0; off < s.size(); off += kPiece)
    MPI_Recv(s.data() + off, static_cast<int>(std::min(kPiece, s.size() - off)), MPI_BYTE, 0, 1, comm,
             MPI_STATUS_IGNORE);
  return s;
}

enum class Mpi { archives, shared_array, object_store, object_seal, object_adopt };

Row run_mpi(Mpi kind, const lagoon::Runtime& rt, const std::vector<double>& data, std::size_t n, int repeat,
            const std::string& suffix) {
  static const char* names[] = {"MPI messages of Boost.Serialization archives", "lagoon SharedArray (MPI-3 window)",
                                "lagoon ObjectStore put/get", "lagoon ObjectStore create/seal",
                                "lagoon ObjectStore adopt of a SharedArray"};
  Row row{names[static_cast<int>(kind)] + (kind != Mpi::archives ? suffix : std::string()), {}, {}, {}, {}, 0, 0};
  const auto mine = lagoon::share(rt, n);  // this rank's slice of the ObjectStore's array
  const std::size_t begin = mine.empty() ? 0 : *mine.begin(), end = begin + mine.size();
  for (int rep = 0; rep < repeat; ++rep) {
    const double before = node_memory(rt);
    double total = 0, peak = 0;
    if (kind == Mpi::archives) {  // a slice per worker, serialized like pickle
      std::vector<double> slice;  // this rank's, received
      row.setup.push_back(0);
      row.share.push_back(timed(rt, [&] {
        if (rt.rank() == 0) {
          for (int r = rt.size() - 1; r >= 0; --r) {  // its own slice last, as a pool's parent keeps none
            const std::size_t b = n * static_cast<std::size_t>(r) / static_cast<std::size_t>(rt.size());
            const std::size_t e = n * static_cast<std::size_t>(r + 1) / static_cast<std::size_t>(rt.size());
            std::ostringstream os;
            {
              boost::archive::binary_oarchive oa(os);
              std::vector<double> part(data.begin() + static_cast<std::ptrdiff_t>(b),
                                       data.begin() + static_cast<std::ptrdiff_t>(e));
              oa << part;
            }
            if (r != 0) {
              send_bytes(os.str(), r, rt.world());
            } else {
              std::istringstream is(os.str());
              boost::archive::binary_iarchive ia(is);
              ia >> slice;
            }
          }
        } else {
          std::istringstream is(receive_bytes(rt.world()));
          boost::archive::binary_iarchive ia(is);
          ia >> slice;
        }
      }));
      row.sum.push_back(timed(rt, [&] { total = sum_everywhere(rt, slice.data(), 0, slice.size()); }));
      row.warm.push_back(timed(rt, [&] { total = sum_everywhere(rt, slice.data(), 0, slice.size()); }));
      peak = node_memory(rt);
    } else if (kind == Mpi::shared_array) {  // one copy per node, in an MPI-3 shared window
      std::optional<lagoon::SharedArray<double>> a;
      row.setup.push_back(0);
      row.share.push_back(timed(rt, [&] {
        a.emplace(rt, std::initializer_list<std::size_t>{n});
        if (rt.rank() == 0) std::memcpy(a->data(), data.data(), n * sizeof(double));
        a->publish(0);  // other nodes (if any) get rank 0's node's copy
      }));
      row.sum.push_back(timed(rt, [&] { total = lagoon::reduce(rt, *a, 0.0, std::plus<>{}); }));
      row.warm.push_back(timed(rt, [&] { total = lagoon::reduce(rt, *a, 0.0, std::plus<>{}); }));
      peak = node_memory(rt);
    } else {  // Ray's way: put once (or fill in place and seal, or adopt an array), get by reference
      std::optional<lagoon::ObjectStore> store;
      const std::size_t arena = kind == Mpi::object_adopt ? 16u << 20 : n * sizeof(double) + (16u << 20);
      row.setup.push_back(timed(rt, [&] { store.emplace(rt, arena); }));
      lagoon::ObjectRef<std::vector<double>> ref;
      row.share.push_back(timed(rt, [&] {
        if (kind == Mpi::object_store) {
          if (rt.rank() == 0) ref = store->put(std::span<const double>(data));
        } else if (kind == Mpi::object_seal) {  // rank 0's node makes it in its arena: no copy after the fill
          if (rt.node() == rt.node_of(0)) {
            auto w = store->create<double>(n);
            if (rt.rank() == 0) std::memcpy(w.span().data(), data.data(), n * sizeof(double));
            ref = w.seal();
          }
        } else {  // an array that every node holds becomes the object: no copy at all
          lagoon::SharedArray<double> a(rt, {n});
          if (rt.rank() == 0) std::memcpy(a.data(), data.data(), n * sizeof(double));
          a.publish(0);
          ref = store->adopt(std::move(a));
        }
        ref = lagoon::broadcast(rt, ref, 0);
      }));
      std::optional<lagoon::ObjectView<double>> view;
      row.sum.push_back(timed(rt, [&] {
        view.emplace(store->get(ref));
        total = sum_everywhere(rt, view->data(), begin, end);
      }));
      row.warm.push_back(timed(rt, [&] { total = sum_everywhere(rt, view->data(), begin, end); }));
      peak = node_memory(rt);
      view.reset();
      rt.barrier();
      if (rt.rank() == 0) store->free(ref);
    }
    row.result = total;
    row.memory = std::max(row.memory, peak - before);
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--group")
      o.group = argv[i + 1];
    else if (key == "--gb")
      o.gb = std::atof(argv[i + 1]);
    else if (key == "--repeat")
      o.repeat = std::max(1, std::atoi(argv[i + 1]));
    else if (key == "--workers")
      o.workers = std::atoi(argv[i + 1]);
    else if (key == "--huge-dir")
      o.huge_dir = argv[i + 1];
    else if (key == "--suffix")
      o.suffix = argv[i + 1];
    else if (key == "--lagoon-only")
      o.lagoon_only = std::string(argv[i + 1]) == "1";
  }
  const auto n = static_cast<std::size_t>(o.gb * 1e9 / sizeof(double));
  double expected = 0;
  if (o.group == "posix") {
    const int workers = o.workers > 0 ? o.workers : static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
    const std::vector<double> data = make_data(n, expected);
    for (Posix kind : {Posix::cow, Posix::shm, Posix::file_tmp, Posix::file_shm, Posix::file_huge})
      if (kind != Posix::file_huge || !o.huge_dir.empty())
        print(run_posix(kind, data, workers, o.repeat, o.huge_dir), "posix", workers, n * sizeof(double), expected);
    return 0;
  }
  if (o.group != "mpi") {
    std::fprintf(stderr,
                 "usage: strategies --group posix|mpi [--gb 1.5] [--repeat 3] [--workers N] [--huge-dir DIR] "
                 "[--lagoon-only 1] [--suffix TEXT]\n");
    return 2;
  }
  lagoon::Runtime rt(argc, argv);
  std::vector<double> data;
  if (rt.rank() == 0) data = make_data(n, expected);
  for (Mpi kind : {Mpi::archives, Mpi::shared_array, Mpi::object_store, Mpi::object_seal, Mpi::object_adopt}) {
    if (o.lagoon_only && kind == Mpi::archives) continue;
    const Row row = run_mpi(kind, rt, data, n, o.repeat, o.suffix);
    if (rt.rank() == 0) print(row, "mpi", rt.size(), n * sizeof(double), expected);
  }
  return 0;
}
