// The README's tour of the API, as a program that builds and runs (CTest runs it and
// checks that the README shows this file). Small sizes; files go to the working directory.
#include <lagoon/lagoon.hpp>
#include <lagoon/hdf5.hpp>                   // load_hdf5, save_hdf5: link lagoon::hdf5 too

#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

struct Trade {                       // a record: NumPy's [('when','<M8[ns]'), ('price','<f8'), ('qty','<i8'), ('code','S6')]
  lagoon::datetime64 when;           // std::chrono::sys_time<std::chrono::nanoseconds>
  double price;
  std::int64_t qty;
  lagoon::fixed_string<6> code;      // 6 bytes, zero-padded; .view() -> std::string_view
};
BOOST_DESCRIBE_STRUCT(Trade, (), (when, price, qty, code))

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);                    // MPI_Init unless already initialized
  const std::size_t rows = 1000, cols = 64, n = 4096;
  auto f = [](std::size_t i) { return static_cast<double>(i % 100); };
  lagoon::SharedArray<double> a(rt, {rows, cols});   // collective; zero-filled; one copy per node

  for (auto i : lagoon::node_share(rt, a.size()))    // the node's ranks fill their node's copy
    a[i] = f(i);
  a.fence();                                         // ... and now every rank of the node sees it all

  double total = lagoon::reduce(rt, a, 0.0, std::plus<>{});        // every element once, result everywhere
  lagoon::for_each(rt, a, [](double& x) { x *= 2; });             // owner computes; every node's copy updated
  a.publish(0);                                      // every node's copy becomes rank 0's node's copy

  lagoon::GlobalArray<double> g(rt, {n, cols});      // collective; rows split in blocks over the nodes
  for (double& x : g.local()) x = 1.0;               // this node's rows, in place (zero-copy)
  g.fence();
  std::vector<double> some(10 * cols);
  g.get(n - 10, n, some);                            // any rows, wherever they live
  g.accumulate(0, 10, some);                         // element-wise +=, atomic per element
  const std::size_t r = n / 2, c = 0;
  std::vector<double> tile(64 * 64);
  g.get({r, c}, {r + 64, c + 64}, tile);             // any N-d patch [lo, hi), as GA's NGA_Get
  g.accumulate({r, c}, {r + 64, c + 64}, tile);      // one request per node holding part of it
  g.accumulate(n * cols - 1, 0.5);                   // one element (row-major index), atomic
  g.fence();                                         // every put/accumulate complete and visible

  lagoon::ObjectStore store(rt, std::size_t{64} << 20);   // collective; a 64 MiB arena per node (default 1 GiB)
  lagoon::ObjectRef<std::vector<double>> ref;
  if (rt.rank() == 0) ref = store.put(std::vector<double>(n, 1.0));   // any rank, not collective
  ref = lagoon::broadcast(rt, ref, 0);               // a ref is Shareable: rank 0's, on every rank
  auto v = store.get(ref);                           // ObjectView<double>: in place in the node arena
  lagoon::ObjectRef<std::map<std::string, int>> map_ref;
  if (rt.rank() == 0) map_ref = store.put(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  map_ref = lagoon::broadcast(rt, map_ref, 0);
  auto m = store.get(map_ref);                       // a std::map<...>: deserialized copy
  auto w = store.create<double>(n);                  // collective over the node: room in its arena
  for (auto i : lagoon::node_share(rt, n)) w.span()[i] = f(i);        // the node's ranks fill it in place
  lagoon::ObjectRef<std::vector<double>> sealed = w.seal();          // no copy; immutable from here on
  auto adopted = store.adopt(std::move(a));          // world collective: a SharedArray becomes an object

  lagoon::SharedArray<Trade> trades(rt, {100});
  for (auto i : lagoon::node_share(rt, trades.size()))
    trades[i] = Trade{lagoon::datetime64{std::chrono::nanoseconds{static_cast<long>(i)}}, 1.5, 2, {"ABC"}};
  trades.fence();
  lagoon::save_npy(trades, "trades.npy");
  auto t = lagoon::load_npy<Trade>(rt, "trades.npy");   // collective; dtype checked, read once per node
  double prices = lagoon::nansum(rt, t.column(&Trade::price));       // NaNs skipped, over the world
  lagoon::for_each(rt, t.column(&Trade::qty), [](std::int64_t& q) { q *= 2; });
  lagoon::save_npy(t, "trades2.npy");                // collective; world rank 0 writes, np.load reads it
  lagoon::save_npy(t, "packed.npy", lagoon::npy_layout::packed);   // NumPy's default record layout
  lagoon::save_npy(g, "big.npy");                    // each node writes its rows into one file
  auto big = lagoon::load_npy_global<double>(rt, "big.npy");       // each node reads only its rows
  lagoon::save_hdf5(t, "trades.h5", "/trades");      // parallel HDF5 (link lagoon::hdf5)
  auto h = lagoon::load_hdf5<Trade>(rt, "trades.h5", "/trades");
  lagoon::save_hdf5(big, "out.h5", "/x");            // collective MPI-IO, each node its rows

  struct Sums { double sx[2]; double n[2]; };        // k-means style: per-centroid sums in a loop of one's own
  Sums part{};
  for (auto i : lagoon::share(rt, t.size())) {       // this rank's share of the world's items
    const int c = t[i].qty > 3 ? 1 : 0;
    part.sx[c] += t[i].price;
    part.n[c] += 1;
  }
  Sums sums = lagoon::allreduce(rt, part, [](Sums x, const Sums& o) {   // every rank's, on every rank
    for (int c : {0, 1}) x.sx[c] += o.sx[c], x.n[c] += o.n[c];
    return x;
  });
  double squares = lagoon::transform_reduce(rt, g, 0.0, std::plus<>{}, [](double x) { return x * x; });
  std::vector<double> per_rank = lagoon::gather(rt, part.n[1], 0);     // one value per rank, on rank 0

  lagoon::TaskPool pool(rt, store);                  // collective; tasks, like Ray's remote functions
  auto square = pool.define([](double x) { return x * x; });          // collective, same order everywhere
  auto sum = pool.define([](lagoon::ObjectView<double> x) { return std::reduce(x.begin(), x.end()); });
  lagoon::Future<double> fut = pool.submit(square, 3.0);              // any rank; runs on this node
  auto k = pool.submit(square, fut);                 // a Future argument: runs after fut, with its value
  auto s = pool.submit(sum, ref);                    // runs on ref's node, reads it in place
  double y = k.get();                                // 81; this rank runs queued tasks while it waits
  double z = s.get();                                // n: the object's sum
  pool.join();                                       // collective: every task submitted anywhere has run

  lagoon::SharedMap<std::string, long> counts(rt, 1 << 20);   // collective; a dict every rank shares
  counts.update("seen", [](std::optional<long> x) { return x.value_or(0) + 1; });   // atomic
  rt.barrier();
  std::optional<long> seen = counts.get("seen");
  long keys = 0;
  for (const auto& [word, count] : counts.items()) keys += count > 0;   // a snapshot of every node's entries

  rt.barrier();
  if (rt.rank() == 0) store.free(ref);               // gone everywhere; later gets: ObjectFreed
  const bool ok = total == 49.5 * static_cast<double>(rows * cols) && v.size() == n && m.at("b") == 2 &&
                  store.get(sealed)[n - 1] == f(n - 1) && store.get(adopted)[1] == 2.0 && prices == 150.0 &&
                  h[99].qty == 4 && y == 81.0 && z == static_cast<double>(n) && seen == rt.size() && keys == 1 &&
                  sums.n[1] == 100 && sums.sx[1] == 150.0 && squares > 0 &&
                  (rt.rank() != 0 || per_rank.size() == static_cast<std::size_t>(rt.size()));
  lagoon::report(rt);                                // one line per node: PSS, arena, objects, fetches
  if (rt.rank() == 0) std::printf("tour: %s\n", ok ? "every result as expected: OK" : "MISMATCH");
  return ok ? 0 : 1;
}
