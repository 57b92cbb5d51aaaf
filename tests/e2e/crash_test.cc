// Crash tests: txcoordd exits (_exit(86)) at each engine fault point during a transfer, is
// restarted without the fault on the same WAL, and must finish the transaction all-or-nothing:
// committed iff the COMMIT decision was durable before the crash, aborted otherwise.
#include <sys/wait.h>

#include "harness.h"

namespace txcoord::e2e {
namespace {

struct CrashCase {
  const char* name;        // gtest name
  const char* failpoints;  // TXC_FAILPOINTS for the first run
  const char* expected;    // final API state after recovery
};

constexpr int kCrashExit = 86;

class CrashTest : public E2eTest, public ::testing::WithParamInterface<CrashCase> {};

TEST_P(CrashTest, RecoversAllOrNothing) {
  const CrashCase& c = GetParam();
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 50);
  ASSERT_TRUE(StartDaemon(c.failpoints));
  const auto gid = Gid("t1");
  HttpReply r = Post("/v1/transactions", TransferBody(gid, acc, wal, 30));
  EXPECT_EQ(r.status, -1) << "the request should die with the process: " << r.body;
  EXPECT_EQ(daemon_->WaitExit(10s), kCrashExit) << daemon_->LogTail();

  ASSERT_TRUE(RestartDaemon());
  EXPECT_EQ(WaitFinal(gid), c.expected);
  if (std::string(c.expected) == "committed") {
    EXPECT_EQ(Balance(acc), 70);
    EXPECT_EQ(Wallet(wal), 80);
  } else {
    EXPECT_EQ(Balance(acc), 100);
    EXPECT_EQ(Wallet(wal), 50);
  }
  EXPECT_EQ(Balance(acc) + Wallet(wal), 150) << "money not conserved";
  ExpectNoLeftovers();
  HttpReply list = Get(std::string("/v1/transactions?state=") + c.expected);
  EXPECT_NE(list.body.find("\"gid\":\"" + gid + "\""), std::string::npos) << list.body;
}

INSTANTIATE_TEST_SUITE_P(
    FaultPoints, CrashTest,
    ::testing::Values(
        CrashCase{"AfterBeginDurable", "coordinator.after_begin_durable=crash", "aborted"},
        CrashCase{"AfterFirstPrepareReply", "coordinator.after_prepare_reply=crash", "aborted"},
        CrashCase{"AfterSecondPrepareReply", "coordinator.after_prepare_reply=crash@2", "aborted"},
        CrashCase{"AfterDecisionDurable", "coordinator.after_decision_durable=crash", "committed"},
        CrashCase{"AfterFirstCommitAck", "coordinator.after_commit_ack=crash", "committed"},
        CrashCase{"AfterSecondCommitAck", "coordinator.after_commit_ack=crash@2", "committed"},
        CrashCase{"BeforeEnd", "coordinator.before_end=crash", "committed"}),
    [](const ::testing::TestParamInfo<CrashCase>& p) { return p.param.name; });

}  // namespace
}  // namespace txcoord::e2e
