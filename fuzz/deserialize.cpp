// libFuzzer target: the serialized path's entry point (detail::deserialize) reads
// arbitrary bytes as the types lagoon's stores hold. It may only succeed or throw
// DeserializeError; a crash, a sanitizer report or a leak is a bug.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "lagoon/detail/archive.hpp"
#include "lagoon/error.hpp"
#include "record.hpp"

namespace {

using lagoon::fuzz::Catalog;
using lagoon::fuzz::Record;
using lagoon::fuzz::Tagged;

template <class T>
void read_as(std::span<const std::byte> bytes, unsigned flags) {
  T value{};
  try {
    lagoon::detail::deserialize(bytes, value, "fuzz", flags);
  } catch (const lagoon::DeserializeError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the type and whether the archive has its header.
  const auto selector = data[0];
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  const unsigned flags = (selector & 0x80) ? boost::archive::no_header : 0u;
  switch (selector & 0x7f) {
    case 0:
      read_as<std::vector<std::string>>(bytes, flags);
      break;
    case 1:
      read_as<Catalog>(bytes, flags);
      break;
    case 2:
      read_as<std::vector<double>>(bytes, flags);
      break;
    case 3:
      read_as<std::string>(bytes, flags);
      break;
    case 4:
      read_as<Tagged>(bytes, flags);
      break;
    default:
      read_as<Record>(bytes, flags);
      break;
  }
  return 0;
}
