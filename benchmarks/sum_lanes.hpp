// The benchmarks' plain sum: 8 independent accumulators, memory-bound like numpy.sum and
// like lagoon::reduce's fold of a rank's share, so a side-by-side compares memory paths,
// not loop styles.
#pragma once

#include <cstddef>

namespace lagoon::bench {

/// p[0..n) summed with 8 independent accumulators.
inline double sum_lanes(const double* p, std::size_t n) {
  double acc[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[i + static_cast<std::size_t>(k)];
  for (; i < n; ++i) acc[0] += p[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace lagoon::bench
