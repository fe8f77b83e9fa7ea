// HDF5 datasets in and out of SharedArrays and GlobalArrays, through parallel HDF5
// (MPI-IO, collective transfers): each node's ranks read their shares of the rows
// straight into the node's window. Link lagoon::hdf5 (built when CMake finds a
// parallel HDF5, Debian's libhdf5-openmpi-dev).
//
// Types: numbers, bool (h5py's enum of int8), complex (h5py's {r, i} compound),
// fixed_string<N> (a fixed-length string of N bytes, zero-padded, as h5py writes NumPy's
// 'S<N>'), and records described with BOOST_DESCRIBE_STRUCT (a compound of their named
// fields, in either layout). datetime64 and other time fields travel as int64 counts of
// their unit (nanoseconds for datetime64): h5py has no native time type.
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

namespace detail {

/// World rank 0 opens `dataset` in `path` and checks its type against `expected`;
/// every rank gets its shape, or the error. @note collective over the world
[[nodiscard]] std::vector<std::size_t> read_hdf5_shape(const Runtime& rt, const std::string& path,
                                                       const std::string& dataset, const Dtype& expected,
                                                       std::string_view type);
/// Every rank reads rows [first_row, first_row + rows) of the dataset into `into`, in
/// one collective MPI-IO transfer. @note collective over `world`
void read_hdf5_rows(MPI_Comm world, const std::string& path, const std::string& dataset, const Dtype& dtype,
                    std::uint64_t first_row, std::size_t rows, std::byte* into, std::string_view type);
/// Creates (or replaces) `dataset` of `shape` in `path` (created if missing), and every
/// rank writes its rows [first_row, first_row + rows) from `data` in one collective
/// transfer. @note collective over `world`
void write_hdf5(MPI_Comm world, const std::string& path, const std::string& dataset, const Dtype& dtype,
                const std::vector<std::size_t>& shape, std::uint64_t first_row, std::size_t rows,
                const std::byte* data, std::string_view type);

inline std::size_t row_items(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t d = 1; d < shape.size(); ++d) n *= shape[d];
  return n;
}

}  // namespace detail

/// Loads an HDF5 dataset into a new SharedArray<T>, one copy per node: each node's ranks
/// read their shares of the rows (hyperslabs) straight into the node's window. The
/// dataset's type must be T's (see the top of this file) and its rank at least 1; a
/// type that differs, a missing file or dataset is a FormatError naming both, on every
/// rank. @note collective over the world
///
/// **Example**: `auto t = lagoon::load_hdf5<Trade>(rt, "trades.h5", "/trades");`
template <class T>
[[nodiscard]] SharedArray<T> load_hdf5(const Runtime& rt, const std::string& path, const std::string& dataset) {
  const detail::Dtype dtype = detail::dtype_of<T>();
  const std::vector<std::size_t> shape = detail::read_hdf5_shape(rt, path, dataset, dtype, detail::type_name<T>());
  SharedArray<T> array(rt, shape);
  const std::size_t row = detail::row_items(shape);
  const auto [begin, end] = detail::share_bounds(shape[0], static_cast<std::size_t>(rt.node_size()),
                                                 static_cast<std::size_t>(rt.node_rank()));
  detail::read_hdf5_rows(rt.world(), path, dataset, dtype, begin, end - begin,
                         reinterpret_cast<std::byte*>(array.data() + begin * row), detail::type_name<T>());
  array.fence();
  return array;
}

/// Loads an HDF5 dataset into a new GlobalArray<T>: each node reads only its own rows,
/// its ranks their shares. Checked as load_hdf5. @note collective over the world
template <class T>
[[nodiscard]] GlobalArray<T> load_hdf5_global(const Runtime& rt, const std::string& path,
                                              const std::string& dataset) {
  const detail::Dtype dtype = detail::dtype_of<T>();
  const std::vector<std::size_t> shape = detail::read_hdf5_shape(rt, path, dataset, dtype, detail::type_name<T>());
  GlobalArray<T> array(rt, shape);
  const std::size_t row = detail::row_items(shape);
  const auto local = array.local_rows();
  const auto [begin, end] = detail::share_bounds(local.size(), static_cast<std::size_t>(rt.node_size()),
                                                 static_cast<std::size_t>(rt.node_rank()));
  detail::read_hdf5_rows(rt.world(), path, dataset, dtype, (local.empty() ? 0 : local.front()) + begin,
                         end - begin, reinterpret_cast<std::byte*>(array.local().data() + begin * row),
                         detail::type_name<T>());
  array.fence();
  return array;
}

/// Saves world rank 0's node copy of `array` as `dataset` in `path` (the file is created
/// if missing; a dataset of that name is replaced), T's type packed (h5py reads it as
/// NumPy's packed dtype). Errors are FormatError on every rank.
/// @note collective over the world (world rank 0 writes)
template <class T>
void save_hdf5(const SharedArray<T>& array, const std::string& path, const std::string& dataset) {
  const MPI_Comm world = detail::replica_of(array).world();
  int rank = 0;
  MPI_Comm_rank(world, &rank);
  detail::write_hdf5(world, path, dataset, detail::dtype_of<T>(), array.shape(), 0, rank == 0 ? array.shape()[0] : 0,
                     reinterpret_cast<const std::byte*>(array.data()), detail::type_name<T>());
}

/// Saves a GlobalArray as one dataset: each node's ranks write the node's rows, in
/// parallel. @note collective over the world
template <class T>
void save_hdf5(const GlobalArray<T>& array, const std::string& path, const std::string& dataset) {
  const detail::GlobalCore& core = detail::global_core_of(array);
  const auto local = array.local_rows();
  const auto [begin, end] = detail::share_bounds(local.size(), static_cast<std::size_t>(core.node_size()),
                                                 static_cast<std::size_t>(core.node_rank()));
  detail::write_hdf5(core.world(), path, dataset, detail::dtype_of<T>(), array.shape(),
                     (local.empty() ? 0 : local.front()) + begin, end - begin,
                     reinterpret_cast<const std::byte*>(array.local().data() + begin * array.row_size()),
                     detail::type_name<T>());
}

}  // namespace lagoon
