// Writes the fuzzer's seed corpus: one valid archive of each type it reads, with
// and without a header, so that mutations start from well-formed input.
#include <boost/serialization/map.hpp>
#include <boost/serialization/optional.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <boost/optional.hpp>
#include <string>
#include <vector>

#include "lagoon/detail/archive.hpp"

namespace {

struct Record {
  std::string name;
  std::vector<double> values;
  boost::optional<std::int64_t> count;
  bool flag = false;
  std::map<std::string, std::vector<std::string>> tags;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & name & values & count & flag & tags;
  }
};

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
  write(dir, 1, std::map<std::string, std::vector<std::string>>{{"k", {"v", "w"}}, {"e", {}}});
  write(dir, 2, std::vector<double>{1.5, -2.0, 3.25});
  write(dir, 3, std::string("lagoon"));
  write(dir, 4, std::pair<std::int64_t, boost::optional<std::string>>{7, "seven"});
  write(dir, 5, Record{"r", {1.0, 2.0}, 42, true, {{"t", {"a"}}}});
  return 0;
}
