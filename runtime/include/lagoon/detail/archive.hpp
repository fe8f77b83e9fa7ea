// The serialized path: Boost.Serialization binary archives written into a byte
// buffer, and read back by an archive that checks every size it reads against the
// bytes that remain before anything is allocated, so that a corrupt or truncated
// archive is a DeserializeError, never a crash or a huge allocation.
#pragma once

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/collection_size_type.hpp>
#include <boost/serialization/item_version_type.hpp>
#include <cstddef>
#include <span>
#include <streambuf>
#include <string>
#include <vector>

namespace lagoon::detail {

/// A streambuf that appends to a byte vector (its capacity is kept between uses).
class ByteSink : public std::streambuf {
 public:
  explicit ByteSink(std::vector<std::byte>& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int_type overflow(int_type c) override;

 private:
  std::vector<std::byte>& out_;
};

/// A streambuf that reads a span of bytes it does not own.
class ByteSource : public std::streambuf {
 public:
  explicit ByteSource(std::span<const std::byte> in);
  /// Bytes not read yet.
  [[nodiscard]] std::size_t remaining() const noexcept { return static_cast<std::size_t>(egptr() - gptr()); }
};

/// A binary input archive (the format of boost::archive::binary_oarchive) that
/// refuses a length or element count larger than the bytes left to read, a bool that
/// is neither 0 nor 1, and C-string members (whose length it cannot bound).
class CheckedIArchive : public boost::archive::binary_iarchive_impl<CheckedIArchive, char, std::char_traits<char>> {
  using Base = boost::archive::binary_iarchive_impl<CheckedIArchive, char, std::char_traits<char>>;
  friend class boost::archive::detail::interface_iarchive<CheckedIArchive>;
  friend class boost::archive::basic_binary_iarchive<CheckedIArchive>;
  friend class boost::archive::basic_binary_iprimitive<CheckedIArchive, char, std::char_traits<char>>;
  friend class boost::archive::load_access;

 public:
  CheckedIArchive(ByteSource& source, unsigned flags);

 protected:
  template <class T>
  void load_override(T& t) {
    Base::load_override(t);
  }
  void load_override(boost::serialization::collection_size_type& t);

  template <class T>
  void load(T& t) {
    Base::load(t);
  }
  void load(bool& t);
  void load(std::string& s);
  void load(std::wstring& s);
  void load(char* s);
  void load(wchar_t* s);

 private:
  /// Throws archive_exception unless `count` items of at least `item_bytes` each fit.
  void check_fits(std::size_t count, std::size_t item_bytes) const;
  ByteSource& source_;
};

/// Appends `value`'s archive to `out`. With `no_header`, the archive has no signature
/// (for keys and values whose readers know what they hold).
template <class T>
void serialize_into(const T& value, std::vector<std::byte>& out, unsigned flags = 0) {
  ByteSink sink(out);
  boost::archive::binary_oarchive archive(sink, flags | boost::archive::no_codecvt);
  archive << value;
}

/// Runs `read(archive)` over `in`; any failure (a corrupt or truncated archive, a
/// count larger than the bytes, a length that does not fit memory, bytes left over) is
/// a DeserializeError whose message names `what`.
void read_archive(std::span<const std::byte> in, unsigned flags, const std::string& what,
                  void (*read)(CheckedIArchive&, void*), void* target);

/// Reads a `T` from the archive `in` wrote by serialize_into (same `flags`).
template <class T>
void deserialize(std::span<const std::byte> in, T& out, const std::string& what, unsigned flags = 0) {
  read_archive(
      in, flags, what, [](CheckedIArchive& archive, void* target) { archive >> *static_cast<T*>(target); }, &out);
}

}  // namespace lagoon::detail

BOOST_SERIALIZATION_REGISTER_ARCHIVE(lagoon::detail::CheckedIArchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(lagoon::detail::CheckedIArchive)
