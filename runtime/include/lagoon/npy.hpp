// NumPy .npy files in and out of SharedArrays: the header is checked against T's
// dtype, and the data goes straight between the file and the node's shared window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lagoon/detail/dtype.hpp"
#include "lagoon/detail/share.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/global_array.hpp"
#include "lagoon/record.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/shared_array.hpp"

namespace lagoon {

/// How save_npy lays out a record type's fields in the file: `aligned` as T's C struct
/// (NumPy's `np.dtype([...], align=True)`, gaps as unnamed void fields), `packed` back to
/// back (NumPy's default `np.dtype([...])` and `DataFrame.to_records()`). Numbers and
/// other non-record types are written alike either way.
enum class npy_layout { aligned, packed };

namespace detail {

struct NpyLayout {
  std::vector<std::size_t> shape;
  std::uint64_t payload_offset = 0;
  std::uint64_t file_itemsize = 0;
  /// Empty when the file's items are T's bytes; else how each file item becomes a T
  /// (from, to, bytes: a record in another layout).
  std::vector<std::uint64_t> moves;
  /// The file world rank 0 checked: device, inode, size, modification time (ns). Every
  /// rank that reads compares the file it opened with it.
  std::uint64_t identity[4] = {};
};

/// World rank 0 reads and checks the header; every rank gets the layout, or the error.
/// @note collective over the world
[[nodiscard]] NpyLayout read_npy_layout(const Runtime& rt, const std::string& path, const Dtype& expected,
                                        std::string_view type);
/// Items [first, first + count) of the file go into `into` (items of `itemsize` bytes):
/// the ranks of each node read their shares, in parallel, straight into `into` (records
/// in another layout are repacked through a small buffer).
/// @note collective over the world
void read_npy_items(const Runtime& rt, const std::string& path, const NpyLayout& layout, std::uint64_t first,
                    std::size_t count, std::byte* into, std::size_t itemsize, std::string_view type);
/// Writes a .npy file of `shape` and `dtype` (in `layout`): world rank 0 writes the
/// header, each rank the items [first, first + count) it holds at `data` (count 0: none),
/// into one file beside `path` that is renamed over it once all are written.
/// @note collective over `world`
void write_npy(MPI_Comm world, const std::string& path, const Dtype& dtype, const std::vector<std::size_t>& shape,
               npy_layout layout, std::uint64_t first, std::size_t count, const std::byte* data,
               std::string_view type);

}  // namespace detail

/// Loads a .npy file into a new SharedArray<T>, one copy per node: each node reads
/// the file once (its ranks read their shares in parallel) straight into its window.
///
/// The file's dtype must be T's (numpy_descr<T>(): kind, size, byte order, and for a
/// record its field names, types and order), C order, any shape with at least one
/// dimension. A record file may be in either of NumPy's layouts: aligned (T's own, read
/// straight in) or packed (fields back to back, as `np.dtype([...])` and
/// `DataFrame.to_records()` write them; each rank repacks its share as it reads).
/// Anything else, a truncated or over-long file, a corrupt header, a file that cannot
/// be opened or is not a regular file (a FIFO, a device), or one replaced or rewritten
/// between world rank 0's check of its header and a node's read (its inode, size or
/// modification time differ) throws FormatError on every rank. Every node must see the file at `path`
/// (a shared filesystem). @note collective over the world
///
/// **Example**: `auto a = lagoon::load_npy<double>(rt, "x.npy");   // a.shape() is the file's`
template <class T>
[[nodiscard]] SharedArray<T> load_npy(const Runtime& rt, const std::string& path) {
  const detail::NpyLayout layout = detail::read_npy_layout(rt, path, detail::dtype_of<T>(), detail::type_name<T>());
  SharedArray<T> array(rt, layout.shape);
  detail::read_npy_items(rt, path, layout, 0, array.size(), reinterpret_cast<std::byte*>(array.data()), sizeof(T),
                         detail::type_name<T>());
  array.fence();
  return array;
}

/// Loads a .npy file into a new GlobalArray<T> (rows split over the nodes): each node
/// reads only its own rows, its ranks their shares in parallel, straight into the
/// node's block, so a file larger than one node's memory loads. Checked as load_npy.
/// @note collective over the world
///
/// **Example**: `auto g = lagoon::load_npy_global<double>(rt, "big.npy");`
template <class T>
[[nodiscard]] GlobalArray<T> load_npy_global(const Runtime& rt, const std::string& path) {
  const detail::NpyLayout layout = detail::read_npy_layout(rt, path, detail::dtype_of<T>(), detail::type_name<T>());
  GlobalArray<T> array(rt, layout.shape);
  const std::span<T> local = array.local();
  detail::read_npy_items(rt, path, layout, array.local_rows().empty() ? 0 : array.local_rows().front() * array.row_size(),
                         local.size(), reinterpret_cast<std::byte*>(local.data()), sizeof(T), detail::type_name<T>());
  array.fence();
  return array;
}

/// Saves world rank 0's node copy of `array` as a .npy file (format 1.0, T's dtype in
/// `layout`, the array's shape) that np.load reads back unchanged. The file appears
/// whole or not at all (it is written beside `path`, then renamed). A symbolic link is
/// written through (the file it names is replaced, the link stays), an existing file
/// keeps its permissions, and a path that is neither a regular file nor new (a FIFO, a
/// device, a directory) is refused. An error (a directory that does not exist, a full
/// disk) throws FormatError on every rank.
/// @note collective over the world (world rank 0 writes)
template <class T>
void save_npy(const SharedArray<T>& array, const std::string& path, npy_layout layout = npy_layout::aligned) {
  const MPI_Comm world = detail::replica_of(array).world();
  int rank = 0;
  MPI_Comm_rank(world, &rank);
  detail::write_npy(world, path, detail::dtype_of<T>(), array.shape(), layout, 0, rank == 0 ? array.size() : 0,
                    reinterpret_cast<const std::byte*>(array.data()), detail::type_name<T>());
}

/// Saves a GlobalArray as one .npy file: world rank 0 writes the header, and each
/// node's ranks write the node's rows, in parallel. The file appears whole or not at
/// all, as save_npy of a SharedArray. Puts and accumulates not yet fenced may be missing.
/// @note collective over the world
template <class T>
void save_npy(const GlobalArray<T>& array, const std::string& path, npy_layout layout = npy_layout::aligned) {
  const detail::GlobalCore& core = detail::global_core_of(array);
  const std::span<const T> local = array.local();
  const auto [begin, end] = detail::share_bounds(local.size(), static_cast<std::size_t>(core.node_size()),
                                                 static_cast<std::size_t>(core.node_rank()));
  const std::size_t first = array.local_rows().empty() ? 0 : array.local_rows().front() * array.row_size();
  detail::write_npy(core.world(), path, detail::dtype_of<T>(), array.shape(), layout, first + begin, end - begin,
                    reinterpret_cast<const std::byte*>(local.data() + begin), detail::type_name<T>());
}

}  // namespace lagoon
