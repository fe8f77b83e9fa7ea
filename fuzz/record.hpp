// The types the fuzz target reads (and the seed writer writes).
#pragma once

#include <boost/optional.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/optional.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lagoon::fuzz {

using Catalog = std::map<std::string, std::vector<std::string>>;
using Tagged = std::pair<std::int64_t, boost::optional<std::string>>;

/// A struct of every kind of member the serialized path meets.
struct Record {
  std::string name;
  std::vector<double> values;
  boost::optional<std::int64_t> count;
  bool flag = false;
  Catalog tags;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& values& count& flag& tags;
  }
};

}  // namespace lagoon::fuzz
