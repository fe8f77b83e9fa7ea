// What lagoon asks of MPI from the calling thread, counted through the profiling interface (PMPI): element
// access and fences send no data, publish() moves bytes leader to leader only, once
// per node, in chunks of at most max_message_bytes, a GlobalArray's rows on the
// caller's node move no data, and a remote get receives its rows once, unstaged.
#include <mpi.h>

#include <atomic>
#include <numeric>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {
std::atomic<long> bcasts{0};
std::atomic<long> bcast_bytes{0};
std::atomic<long> data_calls{0};  // point-to-point and collective calls that move data
std::atomic<long> irecvs{0};
std::atomic<long> irecv_bytes{0};
std::atomic<long> largest_send{0};  // bytes of the largest MPI_Send / MPI_Isend

void sent(int count, MPI_Datatype type) {
  int size = 0;
  PMPI_Type_size(type, &size);
  const long bytes = static_cast<long>(count) * size;
  for (long seen = largest_send.load(); bytes > seen && !largest_send.compare_exchange_weak(seen, bytes);) {
  }
}

// Only the test's own (main) thread is counted: a node leader's service and failure
// detector threads send pings and answers on their own schedule.
const std::thread::id main_thread = std::this_thread::get_id();
bool counted() { return std::this_thread::get_id() == main_thread; }

void reset_counts() {
  bcasts = 0;
  bcast_bytes = 0;
  data_calls = 0;
  irecvs = 0;
  irecv_bytes = 0;
  largest_send = 0;
}
}  // namespace

// Interposed MPI calls: counted here, then passed to Open MPI's PMPI entry points.
extern "C" {
int MPI_Bcast(void* buffer, int count, MPI_Datatype type, int root, MPI_Comm comm) {
  if (!counted()) return PMPI_Bcast(buffer, count, type, root, comm);
  int size = 0;
  PMPI_Type_size(type, &size);
  ++bcasts;
  ++data_calls;
  bcast_bytes += static_cast<long>(count) * size;
  return PMPI_Bcast(buffer, count, type, root, comm);
}
int MPI_Send(const void* buffer, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  if (counted()) {
    ++data_calls;
    sent(count, type);
  }
  return PMPI_Send(buffer, count, type, dest, tag, comm);
}
int MPI_Recv(void* buffer, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status* status) {
  if (counted()) ++data_calls;
  return PMPI_Recv(buffer, count, type, source, tag, comm, status);
}
int MPI_Irecv(void* buffer, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request* request) {
  if (!counted()) return PMPI_Irecv(buffer, count, type, source, tag, comm, request);
  int size = 0;
  PMPI_Type_size(type, &size);
  ++data_calls;
  ++irecvs;
  irecv_bytes += static_cast<long>(count) * size;
  return PMPI_Irecv(buffer, count, type, source, tag, comm, request);
}
int MPI_Isend(const void* buffer, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request* request) {
  if (counted()) {
    ++data_calls;
    sent(count, type);
  }
  return PMPI_Isend(buffer, count, type, dest, tag, comm, request);
}
int MPI_Mrecv(void* buffer, int count, MPI_Datatype type, MPI_Message* message, MPI_Status* status) {
  if (counted()) ++data_calls;
  return PMPI_Mrecv(buffer, count, type, message, status);
}
int MPI_Allgather(const void* send, int send_count, MPI_Datatype send_type, void* recv, int recv_count,
                  MPI_Datatype recv_type, MPI_Comm comm) {
  if (counted()) ++data_calls;
  return PMPI_Allgather(send, send_count, send_type, recv, recv_count, recv_type, comm);
}
}

namespace {

using lagoon::testing::runtime;

class TrafficTest : public lagoon::testing::MpiTest {
 protected:
  void SetUp() override { reset_counts(); }
};

TEST_F(TrafficTest, ElementAccessAndFenceMoveNoData) {
  auto& rt = runtime();
  lagoon::SharedArray<double> a(rt, {1000});
  reset_counts();  // count from here
  for (auto i : lagoon::node_share(rt, a.size())) a[i] = 1.0;
  a.fence();
  double sum = 0;
  for (double x : a.span()) sum += x;
  EXPECT_EQ(sum, 1000.0);
  EXPECT_EQ(data_calls.load(), 0) << "reading and writing the node's copy must not call MPI";
}

TEST_F(TrafficTest, PublishGoesLeaderToLeaderOncePerNode) {
  auto& rt = runtime();
  const std::size_t bytes = (std::size_t{3} << 20) + 5;
  lagoon::SharedArray<std::byte> a(rt, {bytes});
  reset_counts();
  a.publish(0);
  const std::size_t chunk = rt.settings().max_message_bytes;
  const long chunks = static_cast<long>((bytes + chunk - 1) / chunk);
  if (rt.node_count() == 1) {
    EXPECT_EQ(bcasts.load(), 0) << "one node: publish is a fence";
  } else if (rt.is_node_leader()) {
    EXPECT_EQ(bcasts.load(), chunks);
    EXPECT_EQ(bcast_bytes.load(), static_cast<long>(bytes)) << "the array crosses once, whole";
  } else {
    EXPECT_EQ(bcast_bytes.load(), 0) << "a rank that is not a leader moves no array bytes";
  }
}

TEST_F(TrafficTest, ForEachSendsEachNodesSharesOnce) {
  auto& rt = runtime();
  const std::size_t n = 100000;
  lagoon::SharedArray<std::int32_t> a(rt, {n});
  reset_counts();
  lagoon::for_each(rt, a, [](std::int32_t& x) { x = 1; });
  if (rt.node_count() == 1) {
    EXPECT_EQ(bcasts.load(), 0);
  } else if (rt.is_node_leader()) {
    // Every element's bytes go out from (or come in to) each leader once: the whole array.
    EXPECT_EQ(bcast_bytes.load(), static_cast<long>(n * sizeof(std::int32_t)));
  } else {
    EXPECT_EQ(bcast_bytes.load(), 0);
  }
}

TEST_F(TrafficTest, GlobalArrayRowsOnTheNodeMoveNoData) {
  auto& rt = runtime();
  lagoon::GlobalArray<double> g(rt, {1000, 4});
  rt.barrier();
  reset_counts();
  const auto mine = g.local_rows();
  std::vector<double> rows(mine.size() * 4, 2.0);
  g.put(mine.front(), mine.back() + 1, rows);
  g.accumulate(mine.front(), mine.back() + 1, rows);
  g.get(mine.front(), mine.back() + 1, rows);
  EXPECT_EQ(data_calls.load(), 0) << "rows of this rank's node are plain memory: no MPI call";
  g.fence();
}

TEST_F(TrafficTest, NoMessageIsLargerThanTheLimitNotEvenABatchOfSmallPuts) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  lagoon::GlobalArray<double> g(rt, {4000, 4});
  rt.barrier();
  reset_counts();
  const auto theirs = g.rows_of((rt.node() + 1) % rt.node_count());
  const std::vector<double> row(4, 1.0);
  // Small one-way requests (32 B of data each) from each node leader to the next node:
  // packed into batches, one message per batch.
  if (rt.is_node_leader())
    for (std::size_t r = theirs.front(); r <= theirs.back(); ++r) {
      g.put(r, r + 1, row);
      g.accumulate(r, r + 1, row);
    }
  g.fence();
  if (rt.is_node_leader()) {
    EXPECT_GT(largest_send.load(), 0);
    EXPECT_LE(largest_send.load(), static_cast<long>(rt.settings().max_message_bytes))
        << "LAGOON_MAX_MESSAGE_BYTES bounds every message, batches too";
  }
  std::vector<double> back(theirs.size() * 4);
  g.get(theirs.front(), theirs.back() + 1, back);
  EXPECT_EQ(back.front(), 2.0);
  EXPECT_EQ(back.back(), 2.0);
  g.fence();
}

TEST_F(TrafficTest, AGlobalArrayGetReceivesTheRowsOnceStraightIntoTheBuffer) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  const std::size_t cols = 1000;
  lagoon::GlobalArray<double> g(rt, {200, cols});
  rt.barrier();
  reset_counts();
  if (rt.rank() == 0) {
    const auto theirs = g.rows_of(rt.node_count() - 1);
    std::vector<double> out(theirs.size() * cols);
    g.get(theirs.front(), theirs.back() + 1, out);
    const std::size_t bytes = out.size() * sizeof(double);
    const std::size_t chunk = rt.settings().max_message_bytes;
    // Posted: the rows' pieces, straight into `out`, and one receive of 4 KiB (the
    // transport's kErrorBytes) for an error instead of the rows, cancelled once they came.
    constexpr long kErrorSlot = 4096;
    EXPECT_EQ(irecv_bytes.load(), static_cast<long>(bytes) + kErrorSlot) << "the rows cross once";
    EXPECT_EQ(irecvs.load(), static_cast<long>((bytes + chunk - 1) / chunk) + 1);
  }
  g.fence();
}

TEST_F(TrafficTest, APatchGetAsksEachOwnerNodeOnce) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  const std::size_t rows = 64 * static_cast<std::size_t>(rt.node_count()), cols = 200;
  lagoon::GlobalArray<double> g(rt, {rows, cols});
  rt.barrier();
  reset_counts();
  if (rt.rank() == 0) {
    // 64 x 64 across every node's rows: one call per other node, not one per row.
    const std::size_t r0 = 32, c0 = 100;
    std::vector<double> tile(64 * static_cast<std::size_t>(rt.node_count()) * 64 / 2);
    const std::size_t r1 = r0 + tile.size() / 64;
    g.get({r0, c0}, {r1, c0 + 64}, tile);
    long remote_rows = 0;
    for (std::size_t r = r0; r < r1; ++r) remote_rows += g.owner_node(r) != rt.node();
    // Per owner node: its part's pieces (one unless LAGOON_MAX_MESSAGE_BYTES cuts it) and
    // an error slot.
    const std::size_t chunk = rt.settings().max_message_bytes;
    long owners = 0, pieces = 0;
    for (int n = 0; n < rt.node_count(); ++n) {
      std::size_t part_rows = 0;
      for (std::size_t r = r0; r < r1; ++r) part_rows += g.owner_node(r) == n;
      if (n == rt.node() || part_rows == 0) continue;
      ++owners;
      pieces += static_cast<long>((part_rows * 64 * sizeof(double) + chunk - 1) / chunk);
    }
    constexpr long kErrorSlot = 4096;
    EXPECT_EQ(irecvs.load(), pieces + owners) << "the patch's part and an error slot per owner node";
    EXPECT_EQ(irecv_bytes.load(), remote_rows * 64 * static_cast<long>(sizeof(double)) + owners * kErrorSlot)
        << "the patch crosses once, packed";
  }
  g.fence();
}

TEST_F(TrafficTest, ATaskThatStaysOnItsNodeSendsNoMpiMessage) {
  auto& rt = runtime();
  lagoon::ObjectStore store(rt, 16 << 20);
  lagoon::TaskPool pool(rt, store);
  auto tagged = pool.define([&rt](int x) { return rt.node() * 1000 + x; });
  // One rank at a time, while the others wait outside lagoon (so none steals).
  for (int r = 0; r < rt.size(); ++r) {
    rt.barrier();
    if (rt.rank() != r) continue;
    reset_counts();
    auto f = pool.submit(tagged, 7);  // into the node's queue, in shared memory
    EXPECT_EQ(data_calls.load(), 0) << "submitting a task that stays on its node sends nothing";
    EXPECT_EQ(f.get(), rt.node() * 1000 + 7);  // this rank runs it from the queue
    EXPECT_EQ(data_calls.load(), 0) << "running and getting it on the node sends nothing";
  }
  rt.barrier();
  pool.join();
}

TEST_F(TrafficTest, ATaskOnAnObjectRefMovesNoPayloadAcrossNodes) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  lagoon::ObjectStore store(rt, 32 << 20);
  lagoon::TaskPool pool(rt, store);
  auto total = pool.define([](lagoon::ObjectView<double> v) { return std::accumulate(v.begin(), v.end(), 0.0); });
  const std::size_t n = std::size_t{1} << 20;  // 8 MiB on node 0
  lagoon::ObjectRef<std::vector<double>> ref;
  if (rt.rank() == 0) ref = store.put(std::vector<double>(n, 1.0));
  ref = lagoon::broadcast(rt, ref, 0);
  rt.barrier();
  reset_counts();
  if (rt.rank() == rt.size() - 1) {
    EXPECT_EQ(pool.submit(total, ref).get(), static_cast<double>(n));
  }
  pool.join();
  EXPECT_LT(irecv_bytes.load(), 64 * 1024) << "the object's bytes stay on its node";
  EXPECT_EQ(store.stats()[static_cast<std::size_t>(rt.node())].fetches, 0u);
}

}  // namespace
