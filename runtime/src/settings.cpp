// Settings from the environment: LAGOON_* variables, the shared-memory directory
// handed to Open MPI before it starts, and whether that directory holds huge pages.
#include "settings.hpp"
#include "spill.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lagoon/detail/agree.hpp"
#include "lagoon/error.hpp"
#include "lagoon/mpi.hpp"

namespace lagoon::detail {
namespace {

constexpr const char* kOmpiShmDir = "OMPI_MCA_osc_sm_backing_directory";

/// Whether `dir` lies on a mount whose pages are huge: a tmpfs mounted with
/// huge=always/within_size/advise (lagoon advises huge pages), or a hugetlbfs.
bool is_huge_page_dir(const std::string& dir) {
  char resolved[PATH_MAX];
  if (::realpath(dir.c_str(), resolved) == nullptr) return false;
  const std::string path = resolved;
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  std::string best_point;
  bool best_huge = false;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, point, type, options;
    fields >> device >> point >> type >> options;
    const bool inside = path == point || (path.rfind(point, 0) == 0 && (point == "/" || path[point.size()] == '/'));
    if (!inside || point.size() < best_point.size()) continue;
    best_point = point;
    best_huge = type == "hugetlbfs" ||
                (type == "tmpfs" && (options.find("huge=always") != std::string::npos ||
                                     options.find("huge=within_size") != std::string::npos ||
                                     options.find("huge=advise") != std::string::npos));
  }
  return best_huge;
}

/// Parses a positive integer setting; -1 when unset. Throws InvalidArgument naming the variable.
long long parse_setting(const char* name, long long low, long long high) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return -1;
  long long value = 0;
  const char* end = text + std::char_traits<char>::length(text);
  const auto [stop, ec] = std::from_chars(text, end, value);
  if (ec != std::errc{} || stop != end || value < low || value > high)
    throw InvalidArgument(std::string(name) + "=" + text + " is not an integer in [" + std::to_string(low) + ", " +
                          std::to_string(high) + "]");
  return value;
}

}  // namespace

std::string configure_shm_dir() {
  const char* dir = std::getenv("LAGOON_SHM_DIR");
  if (dir == nullptr || *dir == '\0') return {};
  if (const char* set = std::getenv(kOmpiShmDir); set != nullptr && std::string(set) != dir)
    return std::string("LAGOON_SHM_DIR=") + dir + " not used: " + kOmpiShmDir + "=" + set + " takes precedence";
  struct stat info {};
  if (::stat(dir, &info) != 0 || !S_ISDIR(info.st_mode) || ::access(dir, W_OK | X_OK) != 0)
    return std::string("LAGOON_SHM_DIR=") + dir + " is not a writable directory; shared windows use Open MPI's default";
  ::setenv(kOmpiShmDir, dir, 1);
  return {};
}

Settings read_settings(MPI_Comm world, std::string shm_note) {
  Settings settings;
  long long job[5] = {0, static_cast<long long>(settings.max_message_bytes), 0, 0, settings.timeout_seconds};
  agree(world, [&] {
    int rank = 0;
    mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
    if (rank != 0) return;
    if (auto k = parse_setting("LAGOON_RANKS_PER_NODE", 1, 1 << 20); k > 0) job[0] = k;
    if (auto m = parse_setting("LAGOON_MAX_MESSAGE_BYTES", 1, INT_MAX); m > 0) job[1] = m;
    constexpr long long kLargest = 1ll << 50;
    if (auto b = parse_setting("LAGOON_STORE_BYTES", 1, kLargest); b > 0) job[2] = b;
    if (auto b = parse_setting("LAGOON_MAP_BYTES", 1, kLargest); b > 0) job[3] = b;
    if (auto t = parse_setting("LAGOON_TIMEOUT", 0, 7 * 24 * 3600); t >= 0) job[4] = t;
  });
  mpi::bcast_value(job, 0, world);
  settings.ranks_per_node = static_cast<int>(job[0]);
  settings.max_message_bytes = static_cast<std::size_t>(job[1]);
  settings.store_bytes = static_cast<std::size_t>(job[2]);
  settings.map_bytes = static_cast<std::size_t>(job[3]);
  settings.timeout_seconds = static_cast<int>(job[4]);
  // The spill directory: rank 0's.
  std::string spill;
  if (const char* d = std::getenv("LAGOON_SPILL_DIR"); d != nullptr) spill = d;
  mpi::bcast_string(spill, 0, world);
  while (spill.size() > 1 && spill.back() == '/') spill.pop_back();
  settings.spill_dir = spill.empty() ? SpillFiles::default_base() : spill;
  const char* dir = std::getenv(kOmpiShmDir);
  settings.shm_dir = dir != nullptr ? dir : "/dev/shm";
  settings.huge_pages = is_huge_page_dir(settings.shm_dir);
  settings.shm_note = std::move(shm_note);
  return settings;
}

}  // namespace lagoon::detail
