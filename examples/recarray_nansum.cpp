// The record-array workload of shared/seeds/002: 10 million records (a timestamp,
// a float64 with NaNs, a 6-byte string; 240 MB), nansum of the float column by every
// rank. Once with the records shared (one copy per node, lagoon::SharedArray), once
// with a private copy per rank (rank 0 builds them and sends every rank its copy,
// as passing the array to each worker process does). Prints the time and each
// rank's peak memory for both.
//
//   mpirun -np 4 ./recarray_nansum [--rows 10000000]
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <lagoon/lagoon.hpp>
#include <limits>
#include <string>
#include <vector>

namespace {

struct Row {
  lagoon::datetime64 date;
  double val;
  lagoon::fixed_string<6> code;
};
BOOST_DESCRIBE_STRUCT(Row, (), (date, val, code))

/// The article's two rows, alternating: (today, 1, "string") and (today, NaN, "abc").
Row make_row(std::size_t i, lagoon::datetime64 today) {
  if (i % 2 == 0) return {today, 1.0, "string"};
  return {today, std::numeric_limits<double>::quiet_NaN(), "abc"};
}

/// Peak resident memory of this process (VmHWM), in bytes; reset_peak() restarts it.
std::size_t peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string key;
  std::size_t kb = 0;
  while (status >> key)
    if (key == "VmHWM:" && status >> kb) return kb * 1024;
  return 0;
}
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

struct Result {
  double seconds = 0;
  double sum = 0;
  std::vector<double> peak;  // per rank, on rank 0
  std::vector<double> pss;
};

template <class F>
Result measure(const lagoon::Runtime& rt, F&& work) {
  Result r;
  rt.barrier();
  reset_peak();
  const std::size_t pss_before = lagoon::memory_usage().pss;
  const double start = MPI_Wtime();
  std::size_t pss_peak = 0;  // the work reports it while its records are alive
  r.sum = work(pss_peak);
  r.seconds = MPI_Wtime() - start;
  MPI_Allreduce(MPI_IN_PLACE, &r.seconds, 1, MPI_DOUBLE, MPI_MAX, rt.world());
  double mine[2] = {static_cast<double>(peak_rss()), static_cast<double>(pss_peak) - static_cast<double>(pss_before)};
  std::vector<double> all(2 * static_cast<std::size_t>(rt.size()));
  MPI_Gather(mine, 2, MPI_DOUBLE, all.data(), 2, MPI_DOUBLE, 0, rt.world());
  for (int k = 0; k < rt.size(); ++k) {
    r.peak.push_back(all[2 * static_cast<std::size_t>(k)]);
    r.pss.push_back(all[2 * static_cast<std::size_t>(k) + 1]);
  }
  return r;
}

void report(const lagoon::Runtime& rt, const char* name, const Result& r, double expected, double bytes) {
  if (rt.rank() != 0) return;
  double pss_total = 0;
  for (double p : r.pss) pss_total += p;
  std::printf("%-34s %8.3f s   nansum %.1f (expected %.1f: %s)\n", name, r.seconds, r.sum, expected,
              r.sum == expected ? "OK" : "MISMATCH");
  std::printf("  per-rank peak RSS:");
  for (double p : r.peak) std::printf(" %s", lagoon::format_bytes(p).c_str());
  std::printf("\n  memory the records cost the ranks (PSS growth, summed): %s = %.2f copies\n",
              lagoon::format_bytes(pss_total).c_str(), pss_total / bytes);
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  std::size_t rows = 10'000'000;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--rows") == 0) rows = std::strtoull(argv[i + 1], nullptr, 10);
  auto today = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  today = lagoon::broadcast(rt, today, 0);
  const double expected = static_cast<double>((rows + 1) / 2);  // one 1.0 per pair, NaN skipped
  if (rt.rank() == 0)
    std::printf("lagoon recarray_nansum: %d ranks on %d node(s), %zu records of %zu bytes (%s), dtype %s\n\n",
                rt.size(), rt.node_count(), rows, sizeof(Row),
                lagoon::format_bytes(static_cast<double>(rows * sizeof(Row))).c_str(),
                lagoon::numpy_descr<Row>().c_str());

  // Shared: the node's ranks fill the one copy together, then every rank sums its share.
  const double bytes = static_cast<double>(rows * sizeof(Row));
  const Result shared = measure(rt, [&](std::size_t& pss) {
    lagoon::SharedArray<Row> t(rt, {rows});
    for (auto i : lagoon::node_share(rt, rows)) t[i] = make_row(i, today);
    t.fence();
    const double sum = lagoon::nansum(rt, t.column(&Row::val));
    pss = lagoon::memory_usage().pss;
    return sum;
  });
  report(rt, "shared (lagoon::SharedArray<Row>)", shared, expected, bytes);

  // Private: rank 0 builds the records and every rank receives its own copy.
  const Result copied = measure(rt, [&](std::size_t& pss) {
    std::vector<Row> mine(rows);
    if (rt.rank() == 0)
      for (std::size_t i = 0; i < rows; ++i) mine[i] = make_row(i, today);
    const std::size_t bytes = rows * sizeof(Row);
    for (std::size_t off = 0; off < bytes; off += std::size_t{1} << 30)  // MPI counts are ints
      MPI_Bcast(reinterpret_cast<char*>(mine.data()) + off,
                static_cast<int>(std::min(bytes - off, std::size_t{1} << 30)), MPI_BYTE, 0, rt.world());
    double part = 0;
    for (auto i : lagoon::share(rt, rows))
      if (!std::isnan(mine[i].val)) part += mine[i].val;
    double total = 0;
    MPI_Allreduce(&part, &total, 1, MPI_DOUBLE, MPI_SUM, rt.world());
    pss = lagoon::memory_usage().pss;
    return total;
  });
  report(rt, "private copy per rank", copied, expected, bytes);
  if (rt.rank() == 0)
    std::printf("\nshared/private: time %.2fx, memory %.2fx\n", shared.seconds / copied.seconds, [&] {
      double a = 0, b = 0;
      for (double p : shared.pss) a += p;
      for (double p : copied.pss) b += p;
      return b > 0 ? a / b : 0.0;
    }());
  return 0;
}
