// Memory accounting: what this process costs (RSS, and PSS, which splits each
// shared page among the processes that map it), and what the node has free.
#pragma once

#include <cstddef>
#include <string>

namespace lagoon {

/// This process's memory, from /proc/self/smaps_rollup (zeros where it is missing).
struct MemoryUsage {
  std::size_t rss = 0;        ///< resident bytes, shared pages counted whole
  std::size_t pss = 0;        ///< proportional: each shared page divided by its mappers
  std::size_t pss_shmem = 0;  ///< the part of pss in shared memory (windows)
};

/// **Example**: `auto before = lagoon::memory_usage().pss;`
[[nodiscard]] MemoryUsage memory_usage();

/// Bytes the node can still give: MemAvailable from /proc/meminfo.
[[nodiscard]] std::size_t available_memory();

/// "1.50 GiB", "512.00 MiB", "100.00 TiB".
[[nodiscard]] std::string format_bytes(double bytes);

}  // namespace lagoon
