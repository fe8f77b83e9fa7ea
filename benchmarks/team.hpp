// A team of threads in one process, each given its share of n items (the same
// split as lagoon::share): the private-memory peers of the benchmarks use it.
#pragma once

#include <cstddef>
#include <lagoon/detail/share.hpp>
#include <thread>
#include <vector>

namespace lagoon::bench {

/// Runs body(thread, begin, end) on `threads` threads, each on its share of [0, n).
template <class Body>
void in_parallel(std::size_t threads, std::size_t n, Body body) {
  std::vector<std::thread> team;
  for (std::size_t t = 0; t < threads; ++t)
    team.emplace_back([&, t] {
      const auto [begin, end] = lagoon::detail::share_bounds(n, threads, t);
      body(t, begin, end);
    });
  for (auto& member : team) member.join();
}

}  // namespace lagoon::bench
