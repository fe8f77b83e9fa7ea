// Spill files after `kill -9` of the job. `spill_killed kill`: every node spills objects
// to LAGOON_SPILL_DIR, then every rank is killed (SIGKILL: no destructor runs, the files
// stay). `spill_killed next`: the next job on the host finds the killed job's
// directories and its first store removes them. Prints what it found and exits non-zero
// when the killed job left nothing or the next store did not remove it.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <lagoon/lagoon.hpp>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

/// LAGOON_SPILL_DIR's store directories (lagoon-<host>-<pid>-<store>) and their files.
std::vector<std::pair<fs::path, std::size_t>> spill_dirs(const char* base) {
  std::vector<std::pair<fs::path, std::size_t>> dirs;
  std::error_code error;
  for (fs::directory_iterator it(base, error), end; !error && it != end; it.increment(error)) {
    if (it->path().filename().string().rfind("lagoon-", 0) != 0) continue;
    std::size_t files = 0;
    std::error_code inner;
    for (fs::directory_iterator f(it->path(), inner), fend; !inner && f != fend; f.increment(inner)) ++files;
    dirs.emplace_back(it->path(), files);
  }
  return dirs;
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  const char* base = std::getenv("LAGOON_SPILL_DIR");
  if (base == nullptr || (mode != "kill" && mode != "next")) {
    if (rt.rank() == 0) std::fprintf(stderr, "usage: LAGOON_SPILL_DIR=dir spill_killed kill|next\n");
    return 2;
  }
  if (mode == "kill") {
    lagoon::ObjectStore store(rt, 1u << 20);
    std::vector<lagoon::ObjectRef<std::vector<char>>> refs;
    if (rt.is_node_leader())
      for (int k = 0; k < 4; ++k) refs.push_back(store.put(std::vector<char>(400u << 10, static_cast<char>('a' + k))));
    rt.barrier();
    if (rt.is_node_leader())
      std::printf("node %d spilled %llu objects, killing the job\n", rt.node(),
                  static_cast<unsigned long long>(store.local_stats().spilled_objects));
    std::fflush(stdout);
    rt.barrier();
    std::raise(SIGKILL);
  }
  int status = 0;
  if (rt.rank() == 0) {
    const auto before = spill_dirs(base);
    std::size_t files = 0;
    for (const auto& [dir, n] : before) {
      std::printf("left by the killed job: %s (%zu files)\n", dir.c_str(), n);
      files += n;
    }
    if (before.empty() || files == 0) {
      std::printf("the killed job left no spill files: nothing to test\n");
      status = 1;
    }
  }
  rt.barrier();
  {
    lagoon::ObjectStore store(rt, 1u << 20);  // each node's first store removes the dead jobs' directories
    rt.barrier();
    if (rt.rank() == 0) {
      const auto after = spill_dirs(base);
      for (const auto& [dir, n] : after) std::printf("still there: %s (%zu files)\n", dir.c_str(), n);
      if (!after.empty()) status = 1;
      if (status == 0) std::printf("the next job's store removed every leftover spill directory\n");
    }
  }
  return lagoon::broadcast(rt, status, 0);
}
