// The big-array demo: a ~1.5 GB float64 array lives once per node in shared
// memory, is filled in parallel by the node's ranks and summed by all ranks.
// It prints the time of each phase and what the node pays in memory.
//
//   mpirun -np 4 ./sum_big_array [--gb 1.5] [--repeat 5]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <lagoon/lagoon.hpp>
#include <string>
#include <vector>

namespace {

struct Options {
  double gb = 1.5;  // decimal gigabytes, as the article's "1.5 GB"
  int repeat = 5;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--gb") == 0) o.gb = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--repeat") == 0) o.repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  return o;
}

/// Wall time of `step` on the slowest rank: a barrier before, the max after.
template <class F>
double timed(const lagoon::Runtime& rt, F&& step) {
  rt.barrier();
  const double start = MPI_Wtime();
  step();
  double elapsed = MPI_Wtime() - start;
  MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, rt.world());
  return elapsed;
}

/// Sum over i < n of (i % 1024), exactly.
double expected_sum(std::size_t n) {
  const std::size_t blocks = n / 1024;
  const std::size_t rest = n % 1024;
  return static_cast<double>(blocks) * (1023.0 * 1024.0 / 2.0) + static_cast<double>(rest) * (rest - 1.0) / 2.0;
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  const Options opt = parse(argc, argv);
  const auto n = static_cast<std::size_t>(opt.gb * 1e9 / sizeof(double));
  const bool root = rt.rank() == 0;
  const auto& settings = rt.settings();
  if (root) {
    std::printf("lagoon sum_big_array: %d ranks on %d node(s), float64 array of %zu elements (%s)\n", rt.size(),
                rt.node_count(), n, lagoon::format_bytes(static_cast<double>(n * sizeof(double))).c_str());
    std::printf("shared memory in %s (%s)\n", settings.shm_dir.c_str(),
                settings.huge_pages ? "huge pages" : "4 KiB pages");
    if (!settings.shm_note.empty()) std::printf("note: %s\n", settings.shm_note.c_str());
  }
  const auto baseline = lagoon::memory_usage();

  // 1. Create: one shared window per node, zero-filled, pages populated by all the node's ranks.
  std::optional<lagoon::SharedArray<double>> holder;
  const double t_create = timed(rt, [&] { holder.emplace(rt, std::initializer_list<std::size_t>{n}); });
  auto& a = *holder;

  // 2. Fill: each rank writes its share of its node's copy, in place; fence() makes it visible.
  const double t_fill = timed(rt, [&] {
    double* x = a.data();
    for (auto i : lagoon::node_share(rt, n)) x[i] = static_cast<double>(i % 1024);
    a.fence();
  });

  // 3. Sum: every rank reduces its share of the world's work; the total lands on every rank.
  std::vector<double> t_sum;
  double total = 0.0;
  for (int r = 0; r < opt.repeat; ++r) t_sum.push_back(timed(rt, [&] { total = lagoon::reduce(rt, a, 0.0, std::plus<>{}); }));
  std::sort(t_sum.begin(), t_sum.end());
  const double expected = expected_sum(n);

  // 4. Memory: each rank's RSS and PSS (shared pages divided among the ranks that map them).
  const auto usage = lagoon::memory_usage();
  const double mine[3] = {static_cast<double>(usage.rss), static_cast<double>(usage.pss),
                          static_cast<double>(usage.pss) - static_cast<double>(baseline.pss)};
  std::vector<double> all(3 * static_cast<std::size_t>(rt.size()));
  MPI_Gather(mine, 3, MPI_DOUBLE, all.data(), 3, MPI_DOUBLE, 0, rt.world());

  if (root) {
    const double gb = static_cast<double>(a.bytes()) / 1e9;
    std::printf("\nphase                 time      rate\n");
    std::printf("create + zero     %8.1f ms  %6.2f GB/s\n", t_create * 1e3, gb / t_create);
    std::printf("fill (in place)   %8.1f ms  %6.2f GB/s\n", t_fill * 1e3, gb / t_fill);
    std::printf("sum (median of %d)%8.1f ms  %6.2f GB/s   (best %.1f ms)\n", opt.repeat, t_sum[t_sum.size() / 2] * 1e3,
                gb / t_sum[t_sum.size() / 2], t_sum.front() * 1e3);
    std::printf("\nsum = %.1f, expected %.1f: %s\n", total, expected, total == expected ? "OK" : "MISMATCH");
    std::printf("\nrank  node       RSS        PSS   PSS grown by the array\n");
    std::vector<double> node_pss(static_cast<std::size_t>(rt.node_count()), 0.0);
    for (int r = 0; r < rt.size(); ++r) {
      const double* m = &all[3 * static_cast<std::size_t>(r)];
      node_pss[static_cast<std::size_t>(rt.node_of(r))] += m[2];
      std::printf("%4d  %4d  %10s %10s %10s\n", r, rt.node_of(r), lagoon::format_bytes(m[0]).c_str(),
                  lagoon::format_bytes(m[1]).c_str(), lagoon::format_bytes(m[2]).c_str());
    }
    for (int node = 0; node < rt.node_count(); ++node) {
      int k = 0;
      for (int r = 0; r < rt.size(); ++r) k += rt.node_of(r) == node;
      std::printf("node %d: %d ranks hold %s for the array (%.2f copies); %d private copies would take %s\n", node, k,
                  lagoon::format_bytes(node_pss[static_cast<std::size_t>(node)]).c_str(),
                  node_pss[static_cast<std::size_t>(node)] / static_cast<double>(a.bytes()), k,
                  lagoon::format_bytes(static_cast<double>(k) * static_cast<double>(a.bytes())).c_str());
    }
  }
  lagoon::report(rt);  // one line per node: PSS of its ranks
  return total == expected ? 0 : 1;
}
