// The checked input archive, and the instantiations of Boost.Serialization's
// archive templates for it (Boost compiles them only for its own archives).
#include "lagoon/detail/archive.hpp"

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/detail/archive_serializer_map.hpp>
#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>

#include "lagoon/error.hpp"

namespace boost::archive {
template class detail::archive_serializer_map<lagoon::detail::CheckedIArchive>;
template class basic_binary_iprimitive<lagoon::detail::CheckedIArchive, char, std::char_traits<char>>;
template class basic_binary_iarchive<lagoon::detail::CheckedIArchive>;
template class binary_iarchive_impl<lagoon::detail::CheckedIArchive, char, std::char_traits<char>>;
}  // namespace boost::archive

namespace lagoon::detail {

std::streamsize ByteSink::xsputn(const char* s, std::streamsize n) {
  const std::size_t at = out_.size();
  out_.resize(at + static_cast<std::size_t>(n));
  std::memcpy(out_.data() + at, s, static_cast<std::size_t>(n));
  return n;
}

ByteSink::int_type ByteSink::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  out_.push_back(static_cast<std::byte>(traits_type::to_char_type(c)));
  return c;
}

ByteSource::ByteSource(std::span<const std::byte> in) {
  // The get area is only read; std::streambuf wants non-const pointers.
  auto* begin = const_cast<char*>(reinterpret_cast<const char*>(in.data()));
  setg(begin, begin, begin + in.size());
}

CheckedIArchive::CheckedIArchive(ByteSource& source, unsigned flags)
    : Base(source, flags | boost::archive::no_codecvt), source_(source) {
  init(flags);
}

void CheckedIArchive::check_fits(std::size_t count, std::size_t item_bytes) const {
  const std::size_t left = source_.remaining();
  if (item_bytes != 0 && count > left / item_bytes)
    throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                            "a length larger than the bytes left in the archive");
}

void CheckedIArchive::load_override(boost::serialization::collection_size_type& t) {
  Base::load_override(t);
  // Every element of a collection takes at least one byte of the archive (an element
  // with no data at all, an empty class, is the one exception, and is refused).
  check_fits(static_cast<std::size_t>(t), 1);
}

void CheckedIArchive::load(bool& t) {
  unsigned char byte = 0;
  load_binary(&byte, 1);
  if (byte > 1)
    throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                            "a bool that is neither 0 nor 1");
  t = byte == 1;
}

void CheckedIArchive::load(std::string& s) {
  std::size_t length = 0;
  load_binary(&length, sizeof length);
  check_fits(length, 1);
  s.resize(length);
  if (length > 0) load_binary(s.data(), length);
}

void CheckedIArchive::load(std::wstring& s) {
  std::size_t length = 0;
  load_binary(&length, sizeof length);
  check_fits(length, sizeof(wchar_t));
  s.resize(length);
  if (length > 0) load_binary(s.data(), length * sizeof(wchar_t));
}

void CheckedIArchive::load(char*) {
  throw boost::archive::archive_exception(boost::archive::archive_exception::unsupported_class_version,
                                          "C-string members (use std::string)");
}

void CheckedIArchive::load(wchar_t*) {
  throw boost::archive::archive_exception(boost::archive::archive_exception::unsupported_class_version,
                                          "C-string members (use std::wstring)");
}

void read_archive(std::span<const std::byte> in, unsigned flags, const std::string& what,
                  void (*read)(CheckedIArchive&, void*), void* target) {
  std::string why;
  try {
    // The signature (a length and 22 characters) and the version byte that follows:
    // Boost reads that byte unchecked, so a shorter archive stops here.
    constexpr std::size_t kHeaderBytes = sizeof(std::uint64_t) + 22 + 1;
    if ((flags & boost::archive::no_header) == 0 && in.size() < kHeaderBytes)
      throw boost::archive::archive_exception(boost::archive::archive_exception::invalid_signature);
    ByteSource source(in);
    CheckedIArchive archive(source, flags);
    read(archive, target);
    if (source.remaining() == 0) return;
    why = std::to_string(source.remaining()) + " bytes left over after the value";
  } catch (const boost::archive::archive_exception& e) {
    why = e.what();
  } catch (const std::bad_alloc&) {
    why = "a size that does not fit in memory";
  } catch (const std::length_error& e) {
    why = std::string("a size too large: ") + e.what();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    why = e.what();
  }
  throw DeserializeError(what + ": a corrupt or truncated archive of " + std::to_string(in.size()) + " bytes (" + why +
                         ")");
}

}  // namespace lagoon::detail
