// A program outside lagoon's tree: sums a shared array, exits 0 if the sum is right.
#include <cstdio>
#include <functional>
#include <lagoon/lagoon.hpp>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::SharedArray<long> a(rt, {1000});
  for (auto i : lagoon::node_share(rt, a.size())) a[i] = static_cast<long>(i);
  a.fence();
  const long total = lagoon::reduce(rt, a, 0L, std::plus<>{});
  if (rt.rank() == 0) std::printf("consumer: sum %ld over %d ranks\n", total, rt.size());
  return total == 999L * 1000 / 2 ? 0 : 1;
}
