// The transport's answers when a node has nothing registered under a request's id
// (an object destroyed on its node while another rank still used it): the asking
// rank gets an Error naming the node, and the serving node goes on.
#include <vector>

#include "context.hpp"
#include "support.hpp"
#include "transport.hpp"

namespace {

using lagoon::testing::runtime;
using lagoon::testing::throws;
namespace detail = lagoon::detail;

class TransportTest : public lagoon::testing::MpiTest {};

constexpr std::uint32_t kNobody = 0xfffffff0u;  // no object ever gets this id

TEST_F(TransportTest, AGetOfAnUnknownObjectThrowsOnTheAskingRank) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  detail::Transport* transport = rt.context()->transport();
  ASSERT_NE(transport, nullptr);
  if (rt.rank() == 0) {
    std::vector<std::byte> into(3 * 1024 * 1024);  // several reply pieces at a small message limit
    detail::Transport::Reply reply;
    transport->start_get(rt.node_count() - 1, detail::Header{detail::Op::get, kNobody}, into, reply, "an array");
    EXPECT_TRUE(throws<lagoon::Error>([&] { transport->finish_get(reply); }, "could not answer"));
  }
  rt.barrier();
}

TEST_F(TransportTest, OneWayRequestsToAnUnknownObjectAreReportedByTheNextFlush) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  detail::Transport* transport = rt.context()->transport();
  if (rt.rank() == 0) {
    const std::vector<std::byte> small(64), large(100 * 1024);  // batched, and header + pieces
    transport->send_one_way(rt.node_count() - 1, detail::Header{detail::Op::put, kNobody}, small);
    transport->send_one_way(rt.node_count() - 1, detail::Header{detail::Op::put, kNobody}, large);
    EXPECT_TRUE(throws<lagoon::Error>([&] { transport->flush(); }, "2 failed, the first: no object"));
    transport->flush();  // reported once
  }
  rt.barrier();
  lagoon::GlobalArray<int> g(rt, {4});  // the services still answer
  std::vector<int> out(4, -1);
  g.get(0, 4, out);
  EXPECT_EQ(out, std::vector<int>(4, 0));
}

}  // namespace
