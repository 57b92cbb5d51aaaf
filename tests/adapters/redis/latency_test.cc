// Prepare + Commit latency of the Redis participant against the real server, one thread.
// Prints the figures; asserts only that every call succeeded (timings are never asserted: the
// shared machine is too noisy). TXC_LATENCY_ITERATIONS overrides the iteration count (500).
#include <utility>
#include <vector>

#include "redis_fixture.h"
#include "txcoord/testing/latency.h"

namespace txcoord::redis::testing {
namespace {

using Clock_ = std::chrono::steady_clock;

using txcoord::testing::LatencyIterations;
using txcoord::testing::Micros;

void Print(const char* what, std::vector<double> us) {
  txcoord::testing::PrintLatency("redis", what, std::move(us));
}

class LatencyTest : public RedisTest {};

TEST_F(LatencyTest, PrepareCommitAtOneThread) {
  const std::string acct = Unique();
  Set(Wallet(acct), "0");
  const int n = LatencyIterations();
  std::vector<double> prepare, commit, both;
  for (int i = 0; i < n; ++i) {
    const auto id = Branch(Unique("g"));
    const auto t0 = Clock_::now();
    auto v = p_->Prepare(Call(id, "credit", {{"account", acct}, {"amount", "1"}}));
    const auto t1 = Clock_::now();
    ASSERT_TRUE(v.ok() && v->vote == participant::Vote::kYes) << v.status();
    const Status s = p_->Commit(id);
    const auto t2 = Clock_::now();
    ASSERT_TRUE(s.ok()) << s;
    prepare.push_back(Micros(t1 - t0));
    commit.push_back(Micros(t2 - t1));
    both.push_back(Micros(t2 - t0));
  }
  EXPECT_EQ(Get(Wallet(acct)), std::to_string(n));
  Print("prepare", prepare);
  Print("commit", commit);
  Print("prepare+commit", both);
}

}  // namespace
}  // namespace txcoord::redis::testing
