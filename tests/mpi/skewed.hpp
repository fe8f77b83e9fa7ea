// A type whose reader expects another layout than its writer wrote, as two versions
// of a program would: its archive is corrupt for the reader (a count of 2^40
// strings in a few bytes).
#pragma once

#include <boost/serialization/split_member.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace lagoon::testing {

struct Skewed {
  std::vector<std::string> names;
  template <class Archive>
  void save(Archive& ar, unsigned) const {
    const std::uint64_t count = 1ull << 40;
    const std::string tail = "xyz";
    ar << count << tail;
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    ar >> names;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

}  // namespace lagoon::testing
