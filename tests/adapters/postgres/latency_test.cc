// Prepare + Commit and saga Execute latency of the PostgreSQL participant against the real server,
// one thread. Prints the figures; asserts only that every call succeeded (timings are never
// asserted: the shared machine is too noisy). TXC_LATENCY_ITERATIONS overrides the iteration count
// (500).
#include <utility>
#include <vector>

#include "pg_fixture.h"
#include "txcoord/core/fault.h"
#include "txcoord/testing/latency.h"

namespace txcoord::postgres::testing {
namespace {

using Clock_ = std::chrono::steady_clock;

using txcoord::testing::LatencyIterations;
using txcoord::testing::Micros;

void Print(const char* what, std::vector<double> us) {
  txcoord::testing::PrintLatency("postgres", what, std::move(us));
}

TEST_F(PgTest, LatencyPrepareCommitAtOneThread) {
  auto p = Make();
  ASSERT_NE(p, nullptr);
  const int n = LatencyIterations();
  std::vector<double> prepare, commit, both, until_prepare_transaction;
  // Reached after everything but PREPARE TRANSACTION: the part without an fsync.
  Clock_::time_point reached;
  fault::ScopedFault mark("pg.prepare.before_prepare_transaction",
                          fault::Spec::Callback([&] { reached = Clock_::now(); }));
  for (int i = 0; i < n; ++i) {
    const std::string gid = "lat-" + std::to_string(i);
    const auto t0 = Clock_::now();
    auto v = p->Prepare(Call(gid, "credit", {{"account", "bob"}, {"amount", "1"}}));
    const auto t1 = Clock_::now();
    ASSERT_TRUE(v.ok() && v->vote == participant::Vote::kYes) << v.status();
    const Status s = p->Commit(Id(gid));
    const auto t2 = Clock_::now();
    ASSERT_TRUE(s.ok()) << s;
    prepare.push_back(Micros(t1 - t0));
    until_prepare_transaction.push_back(Micros(reached - t0));
    commit.push_back(Micros(t2 - t1));
    both.push_back(Micros(t2 - t0));
  }
  EXPECT_EQ(Balance("bob"), std::to_string(50 + n));
  Print("before PREPARE", until_prepare_transaction);
  Print("prepare", prepare);
  Print("commit", commit);
  Print("prepare+commit", both);
}

// A saga step: Execute (one pipeline, then COMMIT).
TEST_F(PgTest, LatencyExecuteAtOneThread) {
  auto p = Make();
  ASSERT_NE(p, nullptr);
  const int n = LatencyIterations();
  std::vector<double> execute;
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock_::now();
    auto r = p->Execute(
        Call("lat-x-" + std::to_string(i), "credit", {{"account", "bob"}, {"amount", "1"}}));
    const auto t1 = Clock_::now();
    ASSERT_TRUE(r.ok() && r->outcome == participant::Outcome::kDone) << r.status();
    execute.push_back(Micros(t1 - t0));
  }
  EXPECT_EQ(Balance("bob"), std::to_string(50 + n));
  Print("execute", execute);
}

}  // namespace
}  // namespace txcoord::postgres::testing
