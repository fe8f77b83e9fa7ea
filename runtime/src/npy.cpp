// .npy files: the header checked on world rank 0, and arrays read straight into,
// or written straight from, a node's shared window.
#include "lagoon/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "lagoon/detail/agree.hpp"
#include "lagoon/detail/share.hpp"
#include "lagoon/mpi.hpp"
#include "npy_internal.hpp"

namespace lagoon::detail {

// ---- Files -----------------------------------------------------------------------

namespace {

class File {
 public:
  File(const std::string& path, int flags, const std::string& what) : path_(path) {
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd_ < 0) throw FormatError(what + ": cannot open '" + path + "': " + std::strerror(errno));
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::uint64_t size() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_size);
  }
  /// Reads up to `n` bytes at `offset`; returns how many there were.
  std::size_t read(void* into, std::size_t n, std::uint64_t offset, const std::string& what) const {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, static_cast<char*>(into) + done, std::min<std::size_t>(n - done, 1u << 30),
                                  static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw FormatError(what + ": reading '" + path_ + "' failed: " + std::strerror(errno));
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }
  void write(const void* from, std::size_t n, std::uint64_t offset, const std::string& what) const {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t put = ::pwrite(fd_, static_cast<const char*>(from) + done,
                                   std::min<std::size_t>(n - done, 1u << 30), static_cast<off_t>(offset + done));
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0) throw FormatError(what + ": writing '" + path_ + "' failed: " + std::strerror(errno));
      done += static_cast<std::size_t>(put);
    }
  }
  void sync(const std::string& what) const {
    if (::fsync(fd_) != 0 && errno != EINVAL)
      throw FormatError(what + ": writing '" + path_ + "' failed: " + std::strerror(errno));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

NpyLayout read_npy_layout(const Runtime& rt, const std::string& path, const Dtype& expected, std::string_view type) {
  const std::string what = "lagoon::load_npy<" + std::string(type) + ">";
  NpyLayout layout;
  std::uint64_t dims = 0;
  agree(rt.world(), [&] {
    if (rt.rank() != 0) return;
    File file(path, O_RDONLY, what);
    std::string bytes(12, '\0');
    bytes.resize(file.read(bytes.data(), bytes.size(), 0, what));
    const std::uint64_t header_bytes = npy_header_bytes(bytes, path);
    bytes.resize(static_cast<std::size_t>(header_bytes));
    bytes.resize(file.read(bytes.data(), bytes.size(), 0, what));
    const NpyHeader header = parse_npy_header(bytes, path);
    if (header.fortran_order)
      npy_error(path, "a Fortran-order (column-major) array; save it in C order (np.ascontiguousarray) to load it");
    const std::string found = header.dtype.descr();
    const std::string wanted = expected.descr();
    if (found != wanted) {
      const bool big = found.find("'>") != std::string::npos;
      npy_error(path, "its dtype is " + found + ", but " + std::string(type) + " is " + wanted +
                          (big ? " (the file is big-endian: convert it with arr.astype(arr.dtype.newbyteorder('<')))"
                               : (expected.fields.empty() ? ""
                                                          : " (NumPy writes a C struct's layout for "
                                                            "np.dtype([...], align=True))")));
    }
    if (header.shape.empty()) npy_error(path, "a 0-d array (shape ()); lagoon arrays have at least one dimension");
    const std::uint64_t count = shape_product(
        header.shape, std::numeric_limits<std::uint64_t>::max() / std::max<std::size_t>(expected.itemsize, 1), path,
        "the array");
    const std::uint64_t payload = count * expected.itemsize;
    const std::uint64_t size = file.size();
    if (size < header.payload_offset + payload)
      npy_error(path, "truncated: the header promises " + std::to_string(payload) + " bytes of data, the file holds " +
                          std::to_string(size - header.payload_offset));
    if (size > header.payload_offset + payload)
      npy_error(path, "the file holds " + std::to_string(size - header.payload_offset - payload) +
                          " bytes more than its header describes: corrupt");
    layout.shape = header.shape;
    layout.payload_offset = header.payload_offset;
    dims = header.shape.size();
  });
  std::uint64_t head[2] = {dims, layout.payload_offset};
  mpi::bcast_value(head, 0, rt.world());
  layout.shape.resize(static_cast<std::size_t>(head[0]));
  layout.payload_offset = head[1];
  static_assert(sizeof(std::size_t) == sizeof(std::uint64_t));
  mpi::bcast_bytes(layout.shape.data(), layout.shape.size() * sizeof(std::size_t), 0, rt.world());
  return layout;
}

void read_npy_payload(const Runtime& rt, const std::string& path, std::uint64_t offset, std::byte* into,
                      std::size_t bytes, std::size_t itemsize, std::string_view type) {
  const std::string what = "lagoon::load_npy<" + std::string(type) + ">";
  agree(rt.world(), [&] {
    // Each node reads the file once: its ranks read their shares, in parallel.
    const auto [begin, end] =
        share_bounds(bytes / std::max<std::size_t>(itemsize, 1), static_cast<std::size_t>(rt.node_size()),
                     static_cast<std::size_t>(rt.node_rank()));
    const std::size_t first = begin * itemsize;
    const std::size_t n = (end - begin) * itemsize;
    if (n == 0) return;
    File file(path, O_RDONLY, what);
    if (file.read(into + first, n, offset + first, what) != n)
      npy_error(path, "truncated: the file shrank while it was read");
  });
}

void write_npy(MPI_Comm world, const std::string& path, const Dtype& dtype, const std::vector<std::size_t>& shape,
               const std::byte* data, std::size_t bytes, std::string_view type) {
  const std::string what = "lagoon::save_npy<" + std::string(type) + ">";
  int rank = 0;
  mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
  agree(world, [&] {
    if (rank != 0) return;
    // Written beside the target and renamed over it: a reader never sees half a file.
    const std::string partial = path + ".lagoon-partial";
    try {
      std::unique_ptr<File> opened;
      try {
        opened = std::make_unique<File>(partial, O_WRONLY | O_CREAT | O_TRUNC, what);
      } catch (const FormatError&) {
        throw FormatError(what + ": cannot write '" + path + "': " + std::strerror(errno));
      }
      const File& file = *opened;
      const std::string header = make_npy_header(dtype, shape);
      file.write(header.data(), header.size(), 0, what);
      file.write(data, bytes, header.size(), what);
      file.sync(what);
    } catch (...) {
      ::unlink(partial.c_str());
      throw;
    }
    if (::rename(partial.c_str(), path.c_str()) != 0) {
      const int error = errno;
      ::unlink(partial.c_str());
      throw FormatError(what + ": cannot write '" + path + "': " + std::strerror(error));
    }
  });
}

}  // namespace lagoon::detail
