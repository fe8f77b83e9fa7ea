// NumPy .npy files in and out of SharedArrays: the header is checked against T's
// dtype, and the data goes straight between the file and the node's shared window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lagoon/detail/dtype.hpp"
#include "lagoon/detail/type_name.hpp"
#include "lagoon/record.hpp"
#include "lagoon/runtime.hpp"
#include "lagoon/shared_array.hpp"

namespace lagoon {

namespace detail {

struct NpyLayout {
  std::vector<std::size_t> shape;
  std::uint64_t payload_offset = 0;
};

/// World rank 0 reads and checks the header; every rank gets the shape, or the error.
/// @note collective over the world
[[nodiscard]] NpyLayout read_npy_layout(const Runtime& rt, const std::string& path, const Dtype& expected,
                                        std::string_view type);
/// Each node's ranks read their shares of the payload into the node's copy.
/// @note collective over the world
void read_npy_payload(const Runtime& rt, const std::string& path, std::uint64_t offset, std::byte* into,
                      std::size_t bytes, std::size_t itemsize, std::string_view type);
/// World rank 0 writes the file (beside `path`, then renamed over it).
/// @note collective over `world`
void write_npy(MPI_Comm world, const std::string& path, const Dtype& dtype, const std::vector<std::size_t>& shape,
               const std::byte* data, std::size_t bytes, std::string_view type);

}  // namespace detail

/// Loads a .npy file into a new SharedArray<T>, one copy per node: each node reads
/// the file once (its ranks read their shares in parallel) straight into its window.
///
/// The file's dtype must be T's (numpy_descr<T>(): kind, size, byte order, and for a
/// record its field names, types and offsets), C order, any shape with at least one
/// dimension. Anything else, a truncated or over-long file, a corrupt header or a file
/// that cannot be opened throws FormatError on every rank. Every node must see the
/// file at `path` (a shared filesystem). @note collective over the world
///
/// **Example**: `auto a = lagoon::load_npy<double>(rt, "x.npy");   // a.shape() is the file's`
template <class T>
[[nodiscard]] SharedArray<T> load_npy(const Runtime& rt, const std::string& path) {
  const detail::Dtype dtype = detail::dtype_of<T>();
  const detail::NpyLayout layout = detail::read_npy_layout(rt, path, dtype, detail::type_name<T>());
  SharedArray<T> array(rt, layout.shape);
  detail::read_npy_payload(rt, path, layout.payload_offset, reinterpret_cast<std::byte*>(array.data()), array.bytes(),
                           sizeof(T), detail::type_name<T>());
  array.fence();
  return array;
}

/// Saves world rank 0's node copy of `array` as a .npy file (format 1.0, T's dtype,
/// the array's shape) that np.load reads back unchanged. The file appears whole or
/// not at all (it is written beside `path`, then renamed). An error (a directory that
/// does not exist, a full disk) throws FormatError on every rank.
/// @note collective over the world (world rank 0 writes)
template <class T>
void save_npy(const SharedArray<T>& array, const std::string& path) {
  detail::write_npy(detail::replica_of(array).world(), path, detail::dtype_of<T>(), array.shape(),
                    reinterpret_cast<const std::byte*>(array.data()), array.bytes(), detail::type_name<T>());
}

}  // namespace lagoon
