// NumPy dtypes as lagoon compares them: a tree of scalars ('<f8', '|S6',
// '<M8[ns]') and structs, rendered the way NumPy writes `dtype.descr` in a .npy
// header. The parser for .npy headers (runtime/src/npy_header.cpp) builds the same tree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lagoon::detail {

struct Field;

/// A scalar (`scalar` set, no fields) or a struct (fields in offset order, gaps as
/// unnamed '|V<n>' fields, as NumPy writes them).
struct Dtype {
  std::string scalar;
  std::vector<Field> fields;
  std::size_t itemsize = 0;

  /// A scalar from its canonical text ('<f8'); its itemsize is read from the text.
  [[nodiscard]] static Dtype scalar_of(std::string text);
  /// NumPy's `dtype.descr` text: "'<f8'" for a scalar, "[('a', '<f8'), ...]" for a struct.
  [[nodiscard]] std::string descr() const;
};

struct Field {
  std::string name;
  Dtype type;
  std::vector<std::size_t> shape;  ///< a subarray field's shape; empty for a plain field
};

/// What a .npy header says.
struct NpyHeader {
  Dtype dtype;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  std::uint64_t payload_offset = 0;  ///< where the array's bytes start in the file
  int version = 1;
};

/// Bytes a header needs before it can be parsed: the magic, the version and the
/// header length field. `preamble` is the file's first 12 bytes (or fewer if the
/// file is shorter); throws FormatError for a file that is not a .npy file.
[[nodiscard]] std::uint64_t npy_header_bytes(std::string_view preamble, const std::string& file);
/// Parses a whole header (`bytes` starts at the file's first byte and holds at least
/// npy_header_bytes()). Throws FormatError, naming `file`, for anything malformed.
[[nodiscard]] NpyHeader parse_npy_header(std::string_view bytes, const std::string& file);
/// A version 1.0 header for `dtype` and `shape` (field names written as given,
/// control characters as \xNN escapes), padded to a multiple of 64 bytes.
[[nodiscard]] std::string make_npy_header(const Dtype& dtype, const std::vector<std::size_t>& shape);

}  // namespace lagoon::detail
