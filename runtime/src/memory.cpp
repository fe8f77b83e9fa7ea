// Readers of /proc for memory accounting (RSS, PSS, available memory).
#include "lagoon/memory.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace lagoon {
namespace {

/// The "Name:   123 kB" fields of a /proc file, in bytes.
std::size_t field_kib(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + ":");
  const auto start = at == std::string::npos ? (text.rfind(name + ":", 0) == 0 ? 0 : std::string::npos) : at + 1;
  if (start == std::string::npos) return 0;
  std::istringstream line(text.substr(start + name.size() + 1, 64));
  std::size_t kib = 0;
  line >> kib;
  return kib * 1024;
}

std::string slurp(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

MemoryUsage memory_usage() {
  const std::string text = slurp("/proc/self/smaps_rollup");
  return {field_kib(text, "Rss"), field_kib(text, "Pss"), field_kib(text, "Pss_Shmem")};
}

std::size_t available_memory() { return field_kib(slurp("/proc/meminfo"), "MemAvailable"); }

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 5) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", bytes, units[unit]);
  return text;
}

}  // namespace lagoon
