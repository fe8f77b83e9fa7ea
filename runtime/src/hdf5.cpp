// HDF5 datasets through parallel HDF5 (MPI-IO): a lagoon dtype becomes an HDF5 memory
// type, a file's type is checked against it, and rows move in one collective transfer
// per call, straight between the file and the node's window.
#include "lagoon/hdf5.hpp"

#include <hdf5.h>
#include <sys/stat.h>

#include <numeric>
#include <utility>

#include "lagoon/detail/agree.hpp"
#include "lagoon/error.hpp"
#include "lagoon/mpi.hpp"

namespace lagoon::detail {
namespace {

/// An HDF5 identifier, closed by its destructor.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() {
    if (id_ >= 0 && close_) close_(id_);
  }
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
  Id& operator=(Id&& other) noexcept {
    std::swap(id_, other.id_);
    std::swap(close_, other.close_);
    return *this;
  }
  operator hid_t() const noexcept { return id_; }  // NOLINT: passed to HDF5 calls as is
  [[nodiscard]] bool ok() const noexcept { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

Id type_id(hid_t id) { return {id, H5Tclose}; }

/// HDF5 prints its error stack by default; lagoon reports its own errors.
void quiet() {
  static const bool once = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)once;
}

[[noreturn]] void fail(std::string_view call, const std::string& path, const std::string& why) {
  throw FormatError("lagoon::" + std::string(call) + ": '" + path + "': " + why);
}

// ---- Types ----------------------------------------------------------------------

/// The memory type of one scalar dtype ('<f8', '|S6', '|b1', '<M8[ns]', ...).
Id scalar_type(const std::string& scalar, std::string& why) {
  const char kind = scalar[1];
  const std::size_t size = std::stoul(scalar.substr(2));
  switch (kind) {
    case 'i':
    case 'u': {
      const bool s = kind == 'i';
      switch (size) {
        case 1: return type_id(H5Tcopy(s ? H5T_STD_I8LE : H5T_STD_U8LE));
        case 2: return type_id(H5Tcopy(s ? H5T_STD_I16LE : H5T_STD_U16LE));
        case 4: return type_id(H5Tcopy(s ? H5T_STD_I32LE : H5T_STD_U32LE));
        case 8: return type_id(H5Tcopy(s ? H5T_STD_I64LE : H5T_STD_U64LE));
        default: break;
      }
      break;
    }
    case 'M':
    case 'm':
      return type_id(H5Tcopy(H5T_STD_I64LE));  // a count of the unit: h5py has no time type
    case 'f':
      if (size == 4) return type_id(H5Tcopy(H5T_IEEE_F32LE));
      if (size == 8) return type_id(H5Tcopy(H5T_IEEE_F64LE));
      break;
    case 'c': {
      if (size != 8 && size != 16) break;
      Id t = type_id(H5Tcreate(H5T_COMPOUND, size));  // h5py's complex: {r, i}
      const hid_t part = size == 8 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
      H5Tinsert(t, "r", 0, part);
      H5Tinsert(t, "i", size / 2, part);
      return t;
    }
    case 'b': {
      Id t = type_id(H5Tenum_create(H5T_NATIVE_INT8));  // h5py's bool
      std::int8_t no = 0, yes = 1;
      H5Tenum_insert(t, "FALSE", &no);
      H5Tenum_insert(t, "TRUE", &yes);
      return t;
    }
    case 'S': {
      Id t = type_id(H5Tcopy(H5T_C_S1));
      H5Tset_size(t, size);
      H5Tset_strpad(t, H5T_STR_NULLPAD);
      return t;
    }
    default:
      break;
  }
  why = "lagoon has no HDF5 type for NumPy's '" + scalar + "'";
  return {};
}

/// T's memory type: its C layout (a compound for a record: named fields at their
/// offsets, the gaps left out).
Id memory_type(const Dtype& d, std::string& why) {
  if (d.fields.empty()) return scalar_type(d.scalar, why);
  Id t = type_id(H5Tcreate(H5T_COMPOUND, d.itemsize));
  std::size_t offset = 0;
  for (const Field& f : d.fields) {
    std::size_t count = 1;
    for (std::size_t e : f.shape) count *= e;
    if (!f.name.empty()) {
      Id field = memory_type(f.type, why);
      if (!field.ok()) return {};
      if (!f.shape.empty()) {
        std::vector<hsize_t> dims(f.shape.begin(), f.shape.end());
        field = type_id(H5Tarray_create2(field, static_cast<unsigned>(dims.size()), dims.data()));
      }
      if (H5Tinsert(t, f.name.c_str(), offset, field) < 0) {
        why = "field '" + f.name + "' cannot be described to HDF5";
        return {};
      }
    }
    offset += count * f.type.itemsize;
  }
  return t;
}

/// How HDF5 types are named in messages: int32, float64, string[6], {a: int64, b: float64}.
std::string describe(hid_t t) {
  const std::size_t size = H5Tget_size(t);
  auto number = [&](const char* kind) {
    std::string text(kind);
    text += std::to_string(8 * size);
    if (H5Tget_order(t) == H5T_ORDER_BE) text += " (big-endian)";
    return text;
  };
  switch (H5Tget_class(t)) {
    case H5T_INTEGER:
      return number(H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int");
    case H5T_FLOAT:
      return number("float");
    case H5T_STRING:
      if (H5Tis_variable_str(t) > 0) return "variable-length string";
      return std::string("string[").append(std::to_string(size)).append("]");
    case H5T_ENUM: {
      Id base = type_id(H5Tget_super(t));
      return "enum of " + describe(base);
    }
    case H5T_ARRAY: {
      const int rank = H5Tget_array_ndims(t);
      std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
      H5Tget_array_dims2(t, dims.data());
      Id base = type_id(H5Tget_super(t));
      std::string text = describe(base) + "[";
      for (std::size_t d = 0; d < dims.size(); ++d) {
        if (d) text += ',';
        text += std::to_string(dims[d]);
      }
      return text + "]";
    }
    case H5T_COMPOUND: {
      std::string text = "{";
      const int n = H5Tget_nmembers(t);
      for (int i = 0; i < n; ++i) {
        char* name = H5Tget_member_name(t, static_cast<unsigned>(i));
        Id member = type_id(H5Tget_member_type(t, static_cast<unsigned>(i)));
        if (i) text += ", ";
        text.append(name ? name : "?").append(": ").append(describe(member));
        H5free_memory(name);
      }
      return text + "}";
    }
    default:
      return "an HDF5 type of class " + std::to_string(static_cast<int>(H5Tget_class(t)));
  }
}

/// Whether a file's type holds the same values as the memory type `m`: the same class,
/// size, sign and (for compounds) member names in order, whatever the layout.
bool same_values(hid_t file, hid_t m) {
  const H5T_class_t fc = H5Tget_class(file);
  const H5T_class_t mc = H5Tget_class(m);
  const std::size_t size = H5Tget_size(m);
  if (mc == H5T_ENUM)  // a bool: h5py's enum, or a plain byte
    return (fc == H5T_ENUM || fc == H5T_INTEGER) && H5Tget_size(file) == 1;
  if (fc != mc) return false;
  switch (mc) {
    case H5T_INTEGER:
      return H5Tget_size(file) == size && H5Tget_sign(file) == H5Tget_sign(m);
    case H5T_FLOAT:
      return H5Tget_size(file) == size;
    case H5T_STRING:
      return H5Tis_variable_str(file) <= 0 && H5Tget_size(file) == size;
    case H5T_ARRAY: {
      const int rank = H5Tget_array_ndims(m);
      if (H5Tget_array_ndims(file) != rank) return false;
      std::vector<hsize_t> a(static_cast<std::size_t>(rank)), b(static_cast<std::size_t>(rank));
      H5Tget_array_dims2(file, a.data());
      H5Tget_array_dims2(m, b.data());
      Id fb = type_id(H5Tget_super(file)), mb = type_id(H5Tget_super(m));
      return a == b && same_values(fb, mb);
    }
    case H5T_COMPOUND: {
      const int n = H5Tget_nmembers(m);
      if (H5Tget_nmembers(file) != n) return false;
      for (int i = 0; i < n; ++i) {
        const auto u = static_cast<unsigned>(i);
        char* fname = H5Tget_member_name(file, u);
        char* mname = H5Tget_member_name(m, u);
        const bool same_name = fname && mname && std::string_view(fname) == mname;
        H5free_memory(fname);
        H5free_memory(mname);
        Id ft = type_id(H5Tget_member_type(file, u)), mt = type_id(H5Tget_member_type(m, u));
        if (!same_name || !same_values(ft, mt)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/// A bool read from a plain byte needs a byte, not h5py's enum, in memory.
Id reading_type(hid_t file, const Dtype& d, std::string& why) {
  Id m = memory_type(d, why);
  if (m.ok() && H5Tget_class(m) == H5T_ENUM && H5Tget_class(file) == H5T_INTEGER) return type_id(H5Tcopy(H5T_STD_U8LE));
  return m;
}

Id open_dataset(hid_t file, const std::string& path, const std::string& dataset, std::string_view call) {
  // H5Lexists wants every group on the way to exist: ask level by level.
  std::string prefix;
  for (std::size_t at = 0; at != std::string::npos;) {
    const std::size_t next = dataset.find('/', at + 1);
    prefix = dataset.substr(0, next);
    if (!prefix.empty() && prefix != "/" && H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0)
      fail(call, path, "no dataset '" + dataset + "' in the file ('" + prefix + "' does not exist)");
    at = next;
  }
  Id d(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) fail(call, path, "'" + dataset + "' is not a dataset");
  return d;
}

Id parallel_access(MPI_Comm world) {
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_mpio(fapl, world, MPI_INFO_NULL);
  return fapl;
}

Id collective_transfer() {
  Id dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  return dxpl;
}

/// Rows [first_row, first_row + rows) of a dataset of `shape`, in the file and in memory.
std::pair<Id, Id> row_spaces(const std::vector<hsize_t>& shape, std::uint64_t first_row, std::size_t rows) {
  Id file(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), H5Sclose);
  std::vector<hsize_t> start(shape.size(), 0), count(shape);
  start[0] = first_row;
  count[0] = rows;
  hsize_t items = std::accumulate(count.begin(), count.end(), hsize_t{1}, std::multiplies<>{});
  Id memory(H5Screate_simple(1, &items, nullptr), H5Sclose);
  if (items == 0) {
    H5Sselect_none(file);
    H5Sselect_none(memory);
  } else {
    H5Sselect_hyperslab(file, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  }
  return {std::move(file), std::move(memory)};
}

}  // namespace

std::vector<std::size_t> read_hdf5_shape(const Runtime& rt, const std::string& path, const std::string& dataset,
                                         const Dtype& expected, std::string_view type) {
  quiet();
  const std::string call = "load_hdf5<" + std::string(type) + ">";
  std::vector<std::size_t> shape;
  agree(rt.world(), [&] {
    if (rt.rank() != 0) return;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail(call, path, "no such file");
    if (H5Fis_hdf5(path.c_str()) <= 0) fail(call, path, "not an HDF5 file");
    Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) fail(call, path, "cannot open it");
    Id d = open_dataset(file, path, dataset, call);
    Id space(H5Dget_space(d), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 1)
      fail(call, path, "'" + dataset + "' has rank " + std::to_string(rank) +
                           "; lagoon arrays have at least one dimension");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    Id file_type = type_id(H5Dget_type(d));
    std::string why;
    Id wanted = memory_type(expected, why);
    if (!wanted.ok()) fail(call, path, why);
    if (!same_values(file_type, wanted))
      fail(call, path, "'" + dataset + "' holds " + describe(file_type) + ", but " + std::string(type) + " is " +
                           describe(wanted));
    shape.assign(dims.begin(), dims.end());
  });
  std::uint64_t rank = shape.size();
  mpi::bcast_value(rank, 0, rt.world());
  shape.resize(static_cast<std::size_t>(rank));
  mpi::bcast_bytes(shape.data(), shape.size() * sizeof(std::size_t), 0, rt.world());
  return shape;
}

void read_hdf5_rows(MPI_Comm world, const std::string& path, const std::string& dataset, const Dtype& dtype,
                    std::uint64_t first_row, std::size_t rows, std::byte* into, std::string_view type) {
  quiet();
  const std::string call = "load_hdf5<" + std::string(type) + ">";
  Id fapl = parallel_access(world);
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), H5Fclose);  // collective
  agree(world, [&] {
    if (!file.ok()) fail(call, path, "cannot open it with MPI-IO");
  });
  Id d = open_dataset(file, path, dataset, call);
  Id space(H5Dget_space(d), H5Sclose);
  std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  Id file_type = type_id(H5Dget_type(d));
  std::string why;
  Id m = reading_type(file_type, dtype, why);
  auto [file_space, memory_space] = row_spaces(dims, first_row, rows);
  Id dxpl = collective_transfer();
  const herr_t status = H5Dread(d, m, memory_space, file_space, dxpl, into);  // collective
  agree(world, [&] {
    if (status < 0) fail(call, path, "reading '" + dataset + "' failed");
  });
}

void write_hdf5(MPI_Comm world, const std::string& path, const std::string& dataset, const Dtype& dtype,
                const std::vector<std::size_t>& shape, std::uint64_t first_row, std::size_t rows,
                const std::byte* data, std::string_view type) {
  quiet();
  const std::string call = "save_hdf5<" + std::string(type) + ">";
  std::string why;
  Id m = memory_type(dtype, why);
  agree(world, [&] {
    if (!m.ok()) fail(call, path, why);
  });
  int rank = 0;
  MPI_Comm_rank(world, &rank);
  std::uint32_t exists = 0;
  if (rank == 0) exists = H5Fis_hdf5(path.c_str()) > 0;
  mpi::bcast_value(exists, 0, world);
  Id fapl = parallel_access(world);
  Id file = exists ? Id(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl), H5Fclose)
                   : Id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);  // collective
  agree(world, [&] {
    if (!file.ok()) fail(call, path, "cannot write it (a folder that does not exist, or no permission)");
  });
  // The file's type: T's, packed (h5py reads it as NumPy's default packed dtype).
  Id file_type = type_id(H5Tcopy(m));
  if (H5Tget_class(file_type) == H5T_COMPOUND) H5Tpack(file_type);
  if (H5Lexists(file, dataset.c_str(), H5P_DEFAULT) > 0) H5Ldelete(file, dataset.c_str(), H5P_DEFAULT);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Id links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(links, 1);
  Id d(H5Dcreate2(file, dataset.c_str(), file_type, space, links, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  agree(world, [&] {
    if (!d.ok()) fail(call, path, "cannot create dataset '" + dataset + "'");
  });
  auto [file_space, memory_space] = row_spaces(dims, first_row, rows);
  Id dxpl = collective_transfer();
  const herr_t status = H5Dwrite(d, m, memory_space, file_space, dxpl, data);  // collective
  agree(world, [&] {
    if (status < 0) fail(call, path, "writing '" + dataset + "' failed");
  });
}

}  // namespace lagoon::detail
