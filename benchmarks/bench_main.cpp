// The one main of lagoon's benchmarks: every rank runs every benchmark (fixed
// iteration counts keep their collectives matched), only world rank 0 reports,
// each iteration's time is the slowest rank's, and comparisons print ratios.
#include "bench_main.hpp"

#include <mpi.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

namespace lagoon::bench {
namespace {

lagoon::Runtime* the_runtime = nullptr;

struct Comparison {
  std::string a, b, label, target;
};
std::vector<Comparison>& comparisons() {
  static std::vector<Comparison> list;
  return list;
}

/// Rank 0's reporter: the console table, then the ratios of the compared medians.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      std::string name = run.run_name.function_name;
      if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
      medians_[name] = run.GetAdjustedRealTime();
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    if (comparisons().empty()) return;
    std::printf("\nSide by side (median times, slowest rank):\n");
    for (const auto& c : comparisons()) {
      const auto a = medians_.find(c.a);
      const auto b = medians_.find(c.b);
      if (a == medians_.end() || b == medians_.end()) continue;
      std::printf("  %-58s %8.2f / %8.2f ms = %.3f   (%s)\n", c.label.c_str(), a->second, b->second,
                  a->second / b->second, c.target.c_str());
    }
    std::fflush(stdout);
  }

 private:
  std::map<std::string, double> medians_;
};

class NullReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

lagoon::Runtime& runtime() { return *the_runtime; }

std::vector<std::function<void()>>& shutdown_steps() {
  static std::vector<std::function<void()>> steps;
  return steps;
}

void on_shutdown(std::function<void()> f) { shutdown_steps().push_back(std::move(f)); }

std::size_t big_bytes() {
  const char* text = std::getenv("LAGOON_BENCH_BYTES");
  return text ? static_cast<std::size_t>(std::atof(text)) : static_cast<std::size_t>(1.5e9);
}

void report_slowest(benchmark::State& state, double seconds) {
  MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, runtime().world());
  state.SetIterationTime(seconds);
}

void idle_barrier(MPI_Comm comm) {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibarrier(comm, &request);
  int done = 0;
  const timespec pause{0, 1000000};  // 1 ms: outside the timed region, and quiet
  for (MPI_Test(&request, &done, MPI_STATUS_IGNORE); !done; MPI_Test(&request, &done, MPI_STATUS_IGNORE))
    nanosleep(&pause, nullptr);
}

AllCores::AllCores() : saved_(sizeof(cpu_set_t)) {
  sched_getaffinity(0, sizeof(cpu_set_t), reinterpret_cast<cpu_set_t*>(saved_.data()));
  cpu_set_t all;
  CPU_ZERO(&all);
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 0; c < cores && c < CPU_SETSIZE; ++c) CPU_SET(static_cast<int>(c), &all);
  sched_setaffinity(0, sizeof all, &all);
}

AllCores::~AllCores() { sched_setaffinity(0, sizeof(cpu_set_t), reinterpret_cast<cpu_set_t*>(saved_.data())); }

void compare(std::string a, std::string b, std::string label, std::string target) {
  comparisons().push_back({std::move(a), std::move(b), std::move(label), std::move(target)});
}

}  // namespace lagoon::bench

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::bench::the_runtime = &rt;
  benchmark::Initialize(&argc, argv);
  if (rt.rank() == 0) {
    std::printf("lagoon benchmarks: %d ranks on %d node(s) (%d on this node), shared memory in %s%s\n", rt.size(),
                rt.node_count(), rt.node_size(), rt.settings().shm_dir.c_str(),
                rt.settings().huge_pages ? " (huge pages)" : " (4 KiB pages)");
    lagoon::bench::RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    lagoon::bench::NullReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  for (auto& step : lagoon::bench::shutdown_steps()) step();
  return 0;
}
