// .npy files: the header checked on world rank 0, and arrays read straight into,
// or written straight from, a node's shared window.
#include "lagoon/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
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
  File(File&& other) noexcept : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

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
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// Device, inode, size and modification time (ns): which file, in which state.
  [[nodiscard]] std::array<std::uint64_t, 4> identity() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return {};
    return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
            static_cast<std::uint64_t>(st.st_size),
            static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(st.st_mtim.tv_nsec)};
  }
  void sync(const std::string& what) const {
    if (::fsync(fd_) != 0 && errno != EINVAL)
      throw FormatError(what + ": writing '" + path_ + "' failed: " + std::strerror(errno));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

/// What `mode` names, for messages.
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// `path` opened for reading, refused unless it is a regular file (opened without
/// blocking: a FIFO with no writer would block the open).
File open_to_read(const std::string& path, const std::string& what) {
  File file(path, O_RDONLY | O_NONBLOCK, what);
  struct stat st {};
  if (::fstat(file.fd(), &st) != 0) npy_error(path, std::string("cannot stat it: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    npy_error(path, std::string(file_kind(st.st_mode)) + ", not a regular file: .npy files are read from regular files");
  return file;
}

/// Copies `count` items from `from` (items of `from_size` bytes) to `to` (items of
/// `to_size`), each by `moves`.
void repack(const std::byte* from, std::size_t from_size, std::byte* to, std::size_t to_size, std::size_t count,
            std::span<const FieldMove> moves) {
  for (std::size_t i = 0; i < count; ++i, from += from_size, to += to_size)
    for (const FieldMove& m : moves) std::memcpy(to + m.to, from + m.from, static_cast<std::size_t>(m.bytes));
}

std::span<const FieldMove> as_moves(const std::vector<std::uint64_t>& words) {
  static_assert(sizeof(FieldMove) == 3 * sizeof(std::uint64_t));
  return {reinterpret_cast<const FieldMove*>(words.data()), words.size() / 3};
}

/// Repacking goes through a buffer of about this many bytes per rank.
constexpr std::size_t kRepackBytes = 1u << 20;

}  // namespace

NpyLayout read_npy_layout(const Runtime& rt, const std::string& path, const Dtype& expected, std::string_view type) {
  const std::string what = "lagoon::load_npy<" + std::string(type) + ">";
  NpyLayout layout;
  std::uint64_t dims = 0;
  agree(rt.world(), [&] {
    if (rt.rank() != 0) return;
    const File file = open_to_read(path, what);
    const auto identity = file.identity();
    std::copy(identity.begin(), identity.end(), layout.identity);
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
      // A record in another layout (NumPy's packed one, most often) with the same fields.
      const auto moves = field_moves(header.dtype, expected);
      if (!moves) {
        const bool big = found.find("'>") != std::string::npos;
        npy_error(path, "its dtype is " + found + ", but " + std::string(type) + " is " + wanted +
                            (big ? " (the file is big-endian: convert it with arr.astype(arr.dtype.newbyteorder('<')))"
                                 : (expected.fields.empty() ? ""
                                                            : " (the fields' names, types and order must match; "
                                                              "either layout, packed or aligned, loads)")));
      }
      for (const FieldMove& m : *moves) layout.moves.insert(layout.moves.end(), {m.from, m.to, m.bytes});
    }
    if (header.shape.empty()) npy_error(path, "a 0-d array (shape ()); lagoon arrays have at least one dimension");
    const std::uint64_t itemsize = header.dtype.itemsize;
    const std::uint64_t count = shape_product(
        header.shape, std::numeric_limits<std::uint64_t>::max() / std::max<std::uint64_t>(itemsize, 1), path,
        "the array");
    // The array's bytes in T's layout must not overflow either (a packed file's are fewer).
    (void)shape_product(header.shape,
                        std::numeric_limits<std::uint64_t>::max() / std::max<std::size_t>(expected.itemsize, 1), path,
                        "the array");
    const std::uint64_t payload = count * itemsize;
    const std::uint64_t size = file.size();
    if (size < header.payload_offset + payload)
      npy_error(path, "truncated: the header promises " + std::to_string(payload) + " bytes of data, the file holds " +
                          std::to_string(size - header.payload_offset));
    if (size > header.payload_offset + payload)
      npy_error(path, "the file holds " + std::to_string(size - header.payload_offset - payload) +
                          " bytes more than its header describes: corrupt");
    layout.shape = header.shape;
    layout.payload_offset = header.payload_offset;
    layout.file_itemsize = itemsize;
    dims = header.shape.size();
  });
  std::uint64_t head[4] = {dims, layout.payload_offset, layout.file_itemsize, layout.moves.size()};
  mpi::bcast_value(head, 0, rt.world());
  layout.shape.resize(static_cast<std::size_t>(head[0]));
  layout.payload_offset = head[1];
  layout.file_itemsize = head[2];
  layout.moves.resize(static_cast<std::size_t>(head[3]));
  static_assert(sizeof(std::size_t) == sizeof(std::uint64_t));
  mpi::bcast_bytes(layout.shape.data(), layout.shape.size() * sizeof(std::size_t), 0, rt.world());
  mpi::bcast_bytes(layout.moves.data(), layout.moves.size() * sizeof(std::uint64_t), 0, rt.world());
  mpi::bcast_value(layout.identity, 0, rt.world());
  return layout;
}

void read_npy_items(const Runtime& rt, const std::string& path, const NpyLayout& layout, std::uint64_t first,
                    std::size_t count, std::byte* into, std::size_t itemsize, std::string_view type) {
  const std::string what = "lagoon::load_npy<" + std::string(type) + ">";
  agree(rt.world(), [&] {
    // Each node reads its items once: its ranks read their shares, in parallel.
    const auto [begin, end] =
        share_bounds(count, static_cast<std::size_t>(rt.node_size()), static_cast<std::size_t>(rt.node_rank()));
    if (begin == end) return;
    const File file = open_to_read(path, what);
    const auto identity = file.identity();
    if (!std::equal(identity.begin(), identity.end(), layout.identity))
      npy_error(path, "the file changed after world rank 0 checked its header (replaced, or rewritten: another "
                      "inode, size or modification time): nothing was loaded; load it again once it is written");
    const std::size_t file_item = static_cast<std::size_t>(layout.file_itemsize);
    const std::uint64_t at = layout.payload_offset + (first + begin) * file_item;
    if (layout.moves.empty()) {
      const std::size_t n = (end - begin) * itemsize;
      if (file.read(into + begin * itemsize, n, at, what) != n)
        npy_error(path, "truncated: the file shrank while it was read");
      return;
    }
    const std::size_t batch = std::max<std::size_t>(1, kRepackBytes / file_item);
    std::vector<std::byte> buffer(batch * file_item);
    for (std::size_t done = begin; done < end;) {
      const std::size_t n = std::min(batch, end - done);
      const std::size_t bytes = n * file_item;
      if (file.read(buffer.data(), bytes, at + (done - begin) * file_item, what) != bytes)
        npy_error(path, "truncated: the file shrank while it was read");
      repack(buffer.data(), file_item, into + done * itemsize, itemsize, n, as_moves(layout.moves));
      done += n;
    }
  });
}

void write_npy(MPI_Comm world, const std::string& path, const Dtype& dtype, const std::vector<std::size_t>& shape,
               npy_layout layout, std::uint64_t first, std::size_t count, const std::byte* data,
               std::string_view type) {
  const std::string what = "lagoon::save_npy<" + std::string(type) + ">";
  int rank = 0;
  mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
  const Dtype file_dtype = layout == npy_layout::packed ? packed_dtype(dtype) : dtype;
  std::vector<FieldMove> moves;
  if (file_dtype.itemsize != dtype.itemsize) moves = *field_moves(dtype, file_dtype);
  // Written beside the target and renamed over it: a reader never sees half a file.
  // A symbolic link is written through (the file it names is replaced, the link
  // stays); an existing file keeps its mode; anything else than a regular file or a
  // new path is refused.
  std::string partial;
  std::uint64_t payload_offset = 0;
  try {
    agree(world, [&] {  // world rank 0 writes the header and sizes the file
      if (rank != 0) return;
      std::string target = path;
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
        std::error_code error;
        target = std::filesystem::weakly_canonical(path, error).string();
        if (error) throw FormatError(what + ": cannot follow the link '" + path + "': " + error.message());
      }
      const bool exists = ::stat(target.c_str(), &st) == 0;
      if (exists && !S_ISREG(st.st_mode))
        throw FormatError(what + ": '" + path + "' is " + file_kind(st.st_mode) +
                          ", not a regular file: .npy files are written to regular files or new paths");
      partial = target + ".lagoon-partial";
      std::unique_ptr<File> opened;
      try {
        opened = std::make_unique<File>(partial, O_WRONLY | O_CREAT | O_TRUNC, what);
      } catch (const FormatError&) {
        throw FormatError(what + ": cannot write '" + path + "': " + std::strerror(errno));
      }
      if (exists && ::fchmod(opened->fd(), st.st_mode & 07777) != 0)
        throw FormatError(what + ": cannot give '" + partial + "' the mode of '" + target + "': " + std::strerror(errno));
      const std::string header = make_npy_header(file_dtype, shape);
      opened->write(header.data(), header.size(), 0, what);
      std::uint64_t items = 1;
      for (std::size_t e : shape) items *= e;
      if (::ftruncate(opened->fd(), static_cast<off_t>(header.size() + items * file_dtype.itemsize)) != 0)
        throw FormatError(what + ": writing '" + path + "' failed: " + std::strerror(errno));
      payload_offset = header.size();
    });
    mpi::bcast_value(payload_offset, 0, world);
    mpi::bcast_string(partial, 0, world);
    agree(world, [&] {  // every rank its items
      if (count == 0) return;
      File file(partial, O_WRONLY, what);
      const std::uint64_t at = payload_offset + first * file_dtype.itemsize;
      if (moves.empty()) {
        file.write(data, count * dtype.itemsize, at, what);
      } else {
        const std::size_t batch = std::max<std::size_t>(1, kRepackBytes / file_dtype.itemsize);
        std::vector<std::byte> buffer(batch * file_dtype.itemsize);
        for (std::size_t done = 0; done < count;) {  // from T's layout to the file's
          const std::size_t n = std::min(batch, count - done);
          repack(data + done * dtype.itemsize, dtype.itemsize, buffer.data(), file_dtype.itemsize, n, moves);
          file.write(buffer.data(), n * file_dtype.itemsize, at + done * file_dtype.itemsize, what);
          done += n;
        }
      }
      file.sync(what);
    });
    agree(world, [&] {
      if (rank != 0) return;
      const std::string target = partial.substr(0, partial.size() - std::string_view(".lagoon-partial").size());
      if (::rename(partial.c_str(), target.c_str()) != 0)
        throw FormatError(what + ": cannot write '" + path + "': " + std::strerror(errno));
    });
  } catch (...) {
    if (rank == 0 && !partial.empty()) ::unlink(partial.c_str());
    throw;
  }
}

}  // namespace lagoon::detail
