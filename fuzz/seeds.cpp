// Writes the fuzzer's seed corpus: one valid archive of each type it reads, with
// and without a header, so that mutations start from well-formed input.
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "lagoon/detail/archive.hpp"
#include "record.hpp"

namespace {

using lagoon::fuzz::Catalog;
using lagoon::fuzz::Record;
using lagoon::fuzz::Tagged;

template <class T>
void write(const std::string& dir, int selector, const T& value) {
  for (unsigned header : {0u, 1u}) {
    std::vector<std::byte> bytes{static_cast<std::byte>(selector | (header ? 0 : 0x80))};
    lagoon::detail::serialize_into(value, bytes, header ? 0u : unsigned{boost::archive::no_header});
    std::ofstream(dir + "/seed" + std::to_string(selector) + (header ? "h" : "n"), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  write(dir, 0, std::vector<std::string>{"alpha", "", "gamma"});
  write(dir, 1, Catalog{{"k", {"v", "w"}}, {"e", {}}});
  write(dir, 2, std::vector<double>{1.5, -2.0, 3.25});
  write(dir, 3, std::string("lagoon"));
  write(dir, 4, Tagged{7, "seven"});
  write(dir, 5, Record{"r", {1.0, 2.0}, 42, true, {{"t", {"a"}}}});
  return 0;
}
