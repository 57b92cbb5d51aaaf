// Crash tests: txcoordd exits (_exit(86)) at each engine fault point during a transfer, is
// restarted without the fault on the same WAL, and must finish the transaction all-or-nothing:
// committed iff the COMMIT decision was durable before the crash, aborted otherwise.
#include <sys/wait.h>

#include <thread>

#include "harness.h"

namespace txcoord::e2e {
namespace {

struct CrashCase {
  const char* name;        // gtest name
  const char* failpoints;  // TXC_FAILPOINTS for the first run
  const char* expected;    // final API state after recovery
};

constexpr int kCrashExit = 86;

void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << c.failpoints;
}

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
        CrashCase{"BeforeDecisionDurable", "coordinator.commit_decision.before_durable=crash",
                  "aborted"},
        CrashCase{"AfterDecisionDurable", "coordinator.after_decision_durable=crash", "committed"},
        CrashCase{"AfterFirstCommitAck", "coordinator.after_commit_ack=crash", "committed"},
        CrashCase{"AfterSecondCommitAck", "coordinator.after_commit_ack=crash@2", "committed"},
        CrashCase{"BeforeEnd", "coordinator.before_end=crash", "committed"}),
    [](const ::testing::TestParamInfo<CrashCase>& p) { return p.param.name; });

// A participant process (txparticipant serving wallet-redis; the coordinator reaches it as
// kind "remote") crashes right after applying a call, before answering. It is restarted on the
// same port; the transfer must still end all-or-nothing.
struct ParticipantCrashCase {
  const char* name;
  const char* failpoints;  // the txparticipant's TXC_FAILPOINTS (hit 1 = prepare, 2 = phase 2)
  const char* expected;    // "" = either outcome, as long as it is all-or-nothing
};

void PrintTo(const ParticipantCrashCase& c, std::ostream* os) {
  *os << c.failpoints;
}

class ParticipantCrashTest : public E2eTest,
                             public ::testing::WithParamInterface<ParticipantCrashCase> {};

TEST_P(ParticipantCrashTest, TransferEndsAllOrNothing) {
  const ParticipantCrashCase& c = GetParam();
  wallet_remote_ = true;
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 50);
  ASSERT_TRUE(StartParticipant(c.failpoints));
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("t1");
  HttpReply reply;
  std::thread client([&] {
    reply = Http(port_, "POST", "/v1/transactions", TransferBody(gid, acc, wal, 30, 5000), {}, 30s);
  });
  EXPECT_EQ(participant_->WaitExit(10s), kCrashExit) << participant_->LogTail();
  ASSERT_TRUE(StartParticipant());
  client.join();
  EXPECT_TRUE(reply.status == 200 || reply.status == -1) << reply.status << " " << reply.body;

  const std::string state = WaitFinal(gid, 30s);
  RecordProperty("final_state", state);
  if (*c.expected) {
    EXPECT_EQ(state, c.expected);
  } else {
    EXPECT_TRUE(state == "committed" || state == "aborted") << "not final: '" << state << "'";
  }
  if (state == "committed") {
    EXPECT_EQ(Balance(acc), 70);
    EXPECT_EQ(Wallet(wal), 80);
  } else {
    EXPECT_EQ(Balance(acc), 100);
    EXPECT_EQ(Wallet(wal), 50);
  }
  EXPECT_EQ(Balance(acc) + Wallet(wal), 150) << "money not conserved";
  ExpectNoLeftovers();
}

INSTANTIATE_TEST_SUITE_P(
    ParticipantProcess, ParticipantCrashTest,
    ::testing::Values(ParticipantCrashCase{"AfterPrepareApplied",
                                           "participant.server.after_apply=crash", ""},
                      ParticipantCrashCase{"AfterCommitApplied",
                                           "participant.server.after_apply=crash@2", "committed"}),
    [](const ::testing::TestParamInfo<ParticipantCrashCase>& p) { return p.param.name; });

}  // namespace
}  // namespace txcoord::e2e
