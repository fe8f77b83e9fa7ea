// multiprocessing.Manager().dict() for an MPI program: every rank counts the words
// of its share of a corpus into one dictionary that all ranks share, and records its
// progress in it; update() is atomic, so no count is lost however the ranks race.
//
//   mpirun -np 4 ./shared_dict [--documents 20000]
#include <algorithm>
#include <boost/serialization/string.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lagoon/lagoon.hpp>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

const std::vector<std::string> kWords = {"lagoon", "array",  "node", "rank",  "window", "shared", "memory",
                                         "copy",   "pickle", "fork", "numpy", "object", "store",  "dict"};

/// Document `d` of the corpus: 50 words, the same on every rank that asks.
std::vector<std::string> document(std::size_t d) {
  std::mt19937_64 rng(d);
  std::vector<std::string> words;
  for (int i = 0; i < 50; ++i) words.push_back(kWords[rng() % kWords.size()]);
  return words;
}

}  // namespace

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  std::size_t documents = 20000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--documents") == 0) documents = std::strtoull(argv[i + 1], nullptr, 10);

  lagoon::SharedMap<std::string, long> counts(rt);         // the shared dict: word -> count
  lagoon::SharedMap<std::string, std::string> status(rt);  // rank -> what it did

  // Each rank counts its own documents locally, then adds them to the shared dict.
  const auto range = lagoon::share(rt, documents);
  const std::size_t begin = range.empty() ? 0 : range.front();
  const std::size_t end = begin + range.size();
  std::map<std::string, long> mine;
  for (std::size_t d : range)
    for (const auto& w : document(d)) ++mine[w];
  for (const auto& [word, n] : mine)
    counts.update(word, [n = n](std::optional<long> old) { return old.value_or(0) + n; });
  counts.update("documents",
                [n = static_cast<long>(end - begin)](std::optional<long> old) { return old.value_or(0) + n; });
  status.set("rank " + std::to_string(rt.rank()), "counted documents [" + std::to_string(begin) + ", " +
                                                      std::to_string(end) + ") on node " + std::to_string(rt.node()));
  rt.barrier();

  if (rt.rank() == rt.size() - 1) {  // any rank reads the whole dict
    for (int r = 0; r < rt.size(); ++r)
      std::printf("%s\n", status.get("rank " + std::to_string(r)).value_or("?").c_str());
    long total = 0;
    std::vector<std::pair<long, std::string>> ranked;
    for (const auto& w : kWords) {
      const long n = counts.get(w).value_or(0);
      total += n;
      ranked.emplace_back(n, w);
    }
    std::sort(ranked.rbegin(), ranked.rend());
    std::printf("%zu keys; most frequent:", counts.size());
    for (std::size_t i = 0; i < 5; ++i) std::printf(" %s=%ld", ranked[i].second.c_str(), ranked[i].first);
    const long expected = static_cast<long>(documents) * 50;
    std::printf("\nwords counted %ld, expected %ld: %s; documents %ld\n", total, expected,
                total == expected && counts.get("documents") == static_cast<long>(documents) ? "OK" : "MISMATCH",
                counts.get("documents").value_or(0));
  }
  lagoon::report(rt);
  return 0;
}
