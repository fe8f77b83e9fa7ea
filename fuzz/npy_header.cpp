// libFuzzer target: the .npy header parser (detail::parse_npy_header) reads
// arbitrary bytes. It may only succeed or throw FormatError; a crash, a sanitizer
// report, a leak or a hang is a bug. What it accepts must survive a round trip:
// the header lagoon writes for the parsed dtype and shape parses back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lagoon/detail/dtype.hpp"
#include "lagoon/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  lagoon::detail::NpyHeader header;
  try {
    header = lagoon::detail::parse_npy_header(bytes, "fuzz");
  } catch (const lagoon::FormatError&) {
    return 0;
  }
  const std::string again = lagoon::detail::make_npy_header(header.dtype, header.shape);
  const auto back = lagoon::detail::parse_npy_header(again, "round trip");
  if (back.dtype.descr() != header.dtype.descr() || back.shape != header.shape ||
      back.dtype.itemsize != header.dtype.itemsize || back.payload_offset != again.size() || again.size() % 64 != 0)
    std::abort();
  return 0;
}
