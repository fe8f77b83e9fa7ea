// Spill files: where an ObjectStore node writes objects it owns when its arena is full,
// one file per object in one directory per store and node,
//   <LAGOON_SPILL_DIR>/lagoon-<host>-<pid of the node's leader>-<store id>/<object number>
// The directory goes with the store; one whose leader process is gone (a killed job) is
// removed by the next store made on that host. Only the calls here touch the files, and
// no table lock is held across them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lagoon::detail {

class SpillFiles {
 public:
  SpillFiles() = default;
  /// Names this store's directory (made at the first spill) under `base`.
  SpillFiles(std::string base, const std::string& host, long leader_pid, std::uint32_t store);

  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
  /// Writes object `serial`'s bytes to its file; throws OutOfMemory naming the
  /// file and the system's reason (a full disk, an unwritable directory).
  void write(std::uint64_t serial, const std::byte* data, std::size_t bytes) const;
  /// Reads object `serial`'s bytes back; FormatError when its file is missing or not
  /// `bytes` long.
  void read(std::uint64_t serial, std::byte* into, std::size_t bytes) const;
  /// Removes object `serial`'s file (nothing if it has none).
  void remove(std::uint64_t serial) const noexcept;
  /// Removes the directory and every file in it.
  void remove_all() const noexcept;
  /// Removes the directories under `base` that stores of `host` left when their job was
  /// killed (their leader process no longer exists). Returns how many.
  static int remove_leftovers(const std::string& base, const std::string& host) noexcept;
  /// LAGOON_SPILL_DIR's default: $TMPDIR/lagoon-spill (/tmp/lagoon-spill without TMPDIR).
  [[nodiscard]] static std::string default_base();

 private:
  [[nodiscard]] std::string path(std::uint64_t serial) const;
  std::string base_;
  std::string dir_;
};

}  // namespace lagoon::detail
