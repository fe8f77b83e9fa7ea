#include "spill.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "lagoon/error.hpp"

namespace lagoon::detail {
namespace {

namespace fs = std::filesystem;

/// Bytes moved per system call: large enough to stream, small enough for any kernel.
constexpr std::size_t kPiece = std::size_t{64} << 20;

/// A host name as a file name's part: letters, digits, '.', '_'; anything else '_'.
std::string file_safe(const std::string& text) {
  std::string out = text.empty() ? std::string("host") : text;
  std::replace_if(
      out.begin(), out.end(), [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'); },
      '_');
  return out;
}

std::string prefix_of(const std::string& host) { return "lagoon-" + file_safe(host) + "-"; }

/// Closes a descriptor when it goes.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

SpillFiles::SpillFiles(std::string base, const std::string& host, long leader_pid, std::uint32_t store)
    : base_(std::move(base)),
      dir_(base_ + "/" + prefix_of(host) + std::to_string(leader_pid) + "-" + std::to_string(store)) {}

std::string SpillFiles::default_base() {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/lagoon-spill";
}

std::string SpillFiles::path(std::uint64_t serial) const { return dir_ + "/" + std::to_string(serial); }

void SpillFiles::write(std::uint64_t serial, const std::byte* data, std::size_t bytes) const {
  const std::string file = path(serial);
  const auto fail = [&](const std::string& doing, int error) {
    throw OutOfMemory("lagoon::ObjectStore: could not spill object " + std::to_string(serial) + " (" +
                      std::to_string(bytes) + " bytes) to " + file + ": " + doing + ": " + std::strerror(error) +
                      " (LAGOON_SPILL_DIR names where objects go when the arena is full)");
  };
  // The base is shared by the host's users (like /tmp); this store's directory is its own.
  if (::mkdir(base_.c_str(), 01777) == 0) ::chmod(base_.c_str(), 01777);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) fail("mkdir " + dir_, errno);
  Fd f{::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (f.fd < 0) fail("open", errno);
  for (std::size_t done = 0; done < bytes;) {
    const ssize_t n = ::pwrite(f.fd, data + done, std::min(kPiece, bytes - done), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      ::unlink(file.c_str());
      fail("write", error);
    }
    done += static_cast<std::size_t>(n);
  }
}

void SpillFiles::read(std::uint64_t serial, std::byte* into, std::size_t bytes) const {
  const std::string file = path(serial);
  const auto fail = [&](const std::string& why) {
    throw FormatError("lagoon::ObjectStore: object " + std::to_string(serial) + " was spilled to " + file +
                      ", but " + why);
  };
  Fd f{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail(std::string("it cannot be opened: ") + std::strerror(errno));
  struct stat info {};
  if (::fstat(f.fd, &info) != 0 || static_cast<std::size_t>(info.st_size) != bytes)
    fail("it holds " + std::to_string(info.st_size) + " bytes, not " + std::to_string(bytes));
  ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  for (std::size_t done = 0; done < bytes;) {
    const ssize_t n = ::pread(f.fd, into + done, std::min(kPiece, bytes - done), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(n < 0 ? std::string("reading it failed: ") + std::strerror(errno) : std::string("it ended early"));
    done += static_cast<std::size_t>(n);
  }
}

void SpillFiles::remove(std::uint64_t serial) const noexcept { ::unlink(path(serial).c_str()); }

void SpillFiles::remove_all() const noexcept {
  if (dir_.empty()) return;
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

int SpillFiles::remove_leftovers(const std::string& base, const std::string& host) noexcept {
  const std::string prefix = prefix_of(host);
  int removed = 0;
  std::error_code error;
  for (fs::directory_iterator it(base, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    // lagoon-<host>-<pid>-<store>: the pid is the number after the prefix.
    char* rest = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &rest, 10);
    if (pid <= 0 || rest == nullptr || *rest != '-') continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to ask)
    std::error_code ignored;
    if (fs::remove_all(it->path(), ignored) > 0) ++removed;
  }
  return removed;
}

}  // namespace lagoon::detail
