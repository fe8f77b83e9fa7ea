// The transport's protocol, driven directly: calls with answers of known and unknown
// size (inline and in pieces), errors carried back as their own kind, posts batched
// and alone, failures reported by the next flush, and requests to an object that no
// longer exists on its node (the asking rank gets an error naming the node, and the
// serving node goes on), and a node that stops answering: after the patience
// (LAGOON_TIMEOUT) the asking rank throws an error naming that node, its host and its
// ranks, and a node that comes back later goes on serving.
#include <thread>
#include <iterator>
#include <fstream>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <numeric>
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
constexpr std::uint32_t kEcho = 0xfffffff1u;    // the test's own handler

/// The test's object: echoes a call's body, throws on request, sums posted bytes.
enum class EchoOp : std::uint32_t { echo = 1, fail, add };

class Echo final : public detail::Handler {
 public:
  void serve(const detail::Request& request, detail::Transport& t) override {
    switch (static_cast<EchoOp>(request.header.op)) {
      case EchoOp::echo: {
        std::vector<std::byte> body(request.header.body_bytes);
        t.receive_body(request, std::span<std::byte>(body));
        t.answer(request, body);
        return;
      }
      case EchoOp::fail:
        throw lagoon::ObjectFreed("object 7 of node 1 was freed");
      case EchoOp::add:
        t.receive_body(request, [&](std::size_t, std::span<const std::byte> piece) {
          for (auto b : piece) sum += static_cast<unsigned char>(b);
        });
        return;
    }
  }
  std::atomic<std::uint64_t> sum{0};
};

detail::Transport* transport(const lagoon::Runtime& rt) { return detail::transport_of(*detail::context_of(rt)); }

std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i * 7 + 3);
  return v;
}

TEST_F(TransportTest, CallsAnswerAnySizeAndCarryTheTargetsErrorKind) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  auto* t = transport(rt);
  Echo echo;
  t->add(kEcho, &echo);
  rt.barrier();
  const int other = rt.node_count() - 1 - rt.node();  // never this rank's node when there are two
  if (other != rt.node()) {
    for (std::size_t n : {std::size_t{0}, std::size_t{100}, std::size_t{3} << 20}) {  // empty, inline, in pieces
      const auto sent = pattern(n);
      const detail::Ask ask{kEcho, static_cast<std::uint32_t>(EchoOp::echo), {}, sent};
      EXPECT_EQ(t->call(other, ask, "echo"), sent) << n << " bytes, answer of unknown size";
      std::vector<std::byte> into(n);
      t->call(other, ask, into, "echo");
      EXPECT_EQ(into, sent) << n << " bytes, answer of known size";
    }
    const detail::Ask fail{kEcho, static_cast<std::uint32_t>(EchoOp::fail), {}, {}};
    EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { (void)t->call(other, fail, "echo"); }, "object 7 of node 1"));
    std::vector<std::byte> into(1 << 20);  // receives posted before the request, cancelled after the error
    EXPECT_TRUE(throws<lagoon::ObjectFreed>([&] { t->call(other, fail, into, "echo"); }, "was freed"));
    // An answer of another size than the client expects is refused, not truncated.
    const auto sent = pattern(10);
    std::vector<std::byte> small(4);
    EXPECT_TRUE(throws<lagoon::TransportError>(
        [&] { t->call(other, detail::Ask{kEcho, static_cast<std::uint32_t>(EchoOp::echo), {}, sent}, small, "echo"); },
        "expects 4"));
  }
  t->flush();
  rt.barrier();
  t->remove(kEcho);
}

TEST_F(TransportTest, ANodeThatStopsAnsweringIsNamedAfterThePatience) {
  using namespace std::chrono_literals;
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  auto* t = transport(rt);
  const auto& ctx = *detail::context_of(rt);
  Echo echo;
  t->add(kEcho, &echo);
  std::vector<int> pids(static_cast<std::size_t>(rt.size()));
  const int pid = static_cast<int>(::getpid());
  lagoon::mpi::allgather_bytes(&pid, sizeof pid, pids.data(), ctx.world);
  std::array<char, 64> name{};
  const std::string mine = lagoon::mpi::processor_name();
  std::memcpy(name.data(), mine.data(), std::min<std::size_t>(mine.size(), name.size() - 1));
  std::vector<char> names(name.size() * static_cast<std::size_t>(rt.size()));
  lagoon::mpi::allgather_bytes(name.data(), name.size(), names.data(), ctx.world);
  // World rank 0 stops the process of node 1's leader (its service thread with it),
  // asks node 1, and lets it go on.
  const int victim = ctx.leader_of_node.at(1);
  rt.barrier();
  if (rt.rank() == 0) {
    const auto before = lagoon::mpi::patience();
    lagoon::mpi::set_patience(1s);
    ASSERT_EQ(::kill(pids[static_cast<std::size_t>(victim)], SIGSTOP), 0);
    // kill() returns before the signal lands: wait until the process is stopped ('T'),
    // or its service could still answer the first call.
    for (int k = 0; k < 1000; ++k) {
      std::ifstream stat("/proc/" + std::to_string(pids[static_cast<std::size_t>(victim)]) + "/stat");
      std::string text((std::istreambuf_iterator<char>(stat)), {});
      const auto close = text.rfind(')');
      if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'T') break;
      std::this_thread::sleep_for(1ms);
    }
    std::string ranks;
    for (int r = 0; r < rt.size(); ++r)
      if (ctx.node_of_rank[static_cast<std::size_t>(r)] == 1) {
        if (!ranks.empty()) ranks += ',';
        ranks += std::to_string(r);
      }
    const auto sent = pattern(100);
    const detail::Ask ask{kEcho, static_cast<std::uint32_t>(EchoOp::echo), {}, sent};
    std::vector<std::byte> into(sent.size());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(throws<lagoon::TransportError>([&] { t->call(1, ask, into, "an echo"); },
                                               "node 1 (host " + std::string(names.data() + name.size() * static_cast<std::size_t>(victim)) + ", world ranks " +
                                                   ranks + ") is lost: an echo saw no progress"));
    EXPECT_TRUE(throws<lagoon::TransportError>([&] { (void)t->call(1, ask, "an echo"); }, "LAGOON_TIMEOUT=1 s"));
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GE(waited, 1.9);
    EXPECT_LT(waited, 10.0);
    ::kill(pids[static_cast<std::size_t>(victim)], SIGCONT);
    lagoon::mpi::set_patience(before);
    EXPECT_EQ(t->call(1, ask, "an echo"), sent);  // the node came back: it answers again
  }
  t->flush();
  rt.barrier();
  t->remove(kEcho);
}

TEST_F(TransportTest, PostsAreCarriedOutInOrderBeforeTheFlushReturns) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  auto* t = transport(rt);
  Echo echo;
  t->add(kEcho, &echo);
  rt.barrier();
  const auto big = pattern(5 << 20);  // alone, in pieces
  const auto one = pattern(1);        // batched
  const std::uint64_t big_sum = std::accumulate(big.begin(), big.end(), std::uint64_t{0},
                                                [](std::uint64_t a, std::byte b) { return a + static_cast<unsigned char>(b); });
  const int posts = 3000;  // more than a batch, and more than kMaxUnflushed messages
  for (int n = 0; n < rt.node_count(); ++n) {
    if (n == rt.node()) continue;
    for (int i = 0; i < posts; ++i) t->post(n, detail::Ask{kEcho, static_cast<std::uint32_t>(EchoOp::add), {}, one});
    t->post(n, detail::Ask{kEcho, static_cast<std::uint32_t>(EchoOp::add), {}, big});
  }
  t->flush();
  rt.barrier();
  if (rt.is_node_leader()) {
    // Every rank of every other node posted to this node's service.
    const auto senders = static_cast<std::uint64_t>(rt.size() - rt.node_size());
    EXPECT_EQ(echo.sum.load(), senders * (posts * static_cast<unsigned char>(one[0]) + big_sum));
  }
  rt.barrier();
  t->remove(kEcho);
}

TEST_F(TransportTest, ACallToAnUnknownObjectThrowsOnTheAskingRank) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  auto* t = transport(rt);
  if (rt.rank() == 0) {
    std::vector<std::byte> into(3 * 1024 * 1024);  // several answer pieces at a small message limit
    EXPECT_TRUE(throws<lagoon::TransportError>(
        [&] { t->call(rt.node_count() - 1, detail::Ask{kNobody, 1, {}, {}}, into, "an array"); }, "no object"));
    EXPECT_TRUE(throws<lagoon::TransportError>(
        [&] { (void)t->call(rt.node_count() - 1, detail::Ask{kNobody, 1, {}, {}}, "an array"); }, "(destroyed?)"));
  }
  rt.barrier();
}

TEST_F(TransportTest, PostsToAnUnknownObjectAreReportedByTheNextFlush) {
  auto& rt = runtime();
  if (rt.node_count() < 2) GTEST_SKIP() << "needs two nodes";
  auto* t = transport(rt);
  if (rt.rank() == 0) {
    const std::vector<std::byte> small(64), large(100 * 1024);  // batched, and header + pieces
    t->post(rt.node_count() - 1, detail::Ask{kNobody, 1, {}, small});
    t->post(rt.node_count() - 1, detail::Ask{kNobody, 1, {}, large});
    EXPECT_TRUE(throws<lagoon::TransportError>([&] { t->flush(); }, "2 failed, the first: no object"));
    t->flush();  // reported once
  }
  rt.barrier();
  lagoon::GlobalArray<int> g(rt, {4});  // the services still answer
  std::vector<int> out(4, -1);
  g.get(0, 4, out);
  EXPECT_EQ(out, std::vector<int>(4, 0));
}

}  // namespace
