// A program outside lagoon's tree, written against the installed headers only: sums a
// shared array, and stores a std::map of strings to vectors (no Boost include of its
// own: lagoon.hpp brings Boost's serialization of the standard containers). Exits 0 if
// both come back right.
#include <cstdio>
#include <functional>
#include <lagoon/lagoon.hpp>
#include <map>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::SharedArray<long> a(rt, {1000});
  for (auto i : lagoon::node_share(rt, a.size())) a[i] = static_cast<long>(i);
  a.fence();
  const long total = lagoon::reduce(rt, a, 0L, std::plus<>{});

  lagoon::ObjectStore store(rt, 1u << 20);
  using Table = std::map<std::string, std::vector<int>>;
  lagoon::ObjectRef<Table> ref;
  if (rt.rank() == 0) ref = store.put(Table{{"a", {1, 2}}, {"b", {3}}});
  ref = lagoon::broadcast(rt, ref, 0);
  const Table table = store.get(ref);
  const bool table_right = table.size() == 2 && table.at("a") == std::vector<int>{1, 2} && table.at("b").size() == 1;

  if (rt.rank() == 0)
    std::printf("consumer: sum %ld over %d ranks, a map of %zu keys %s\n", total, rt.size(), table.size(),
                table_right ? "back equal" : "that differs");
  return total == 999L * 1000 / 2 && table_right ? 0 : 1;
}
