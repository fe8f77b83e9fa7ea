// Boost.Serialization for the standard library's containers, so that an ObjectStore or
// a SharedMap holds a std::map<std::string, std::vector<int>> (or any nesting of these)
// with no include of the user's own. object_store.hpp and shared_map.hpp (so lagoon.hpp)
// include it. Types of one's own still need a serialize() (or, when Shareable, no
// archive at all).
#pragma once

#include <boost/serialization/array.hpp>
#include <boost/serialization/bitset.hpp>
#include <boost/serialization/complex.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/forward_list.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/shared_ptr.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unique_ptr.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/valarray.hpp>
#include <boost/serialization/vector.hpp>
