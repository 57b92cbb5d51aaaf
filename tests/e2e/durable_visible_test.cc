// Issue 19's two bugs over HTTP against the real stores. (1) While the COMMIT decision is being
// written (held open by a delay at coordinator.commit_decision.before_durable), an operator's
// retry sends no commit, a keyed client retry and GET never say committed, no money moves; a
// kill -9 in that window ends aborted everywhere after the restart, with no breaker opened.
// (2) A saga whose gid was forgotten (max_finished_kept) and is reused runs its steps again.
#include <future>

#include "harness.h"
#include "txcoord/testing/poll.h"

namespace txcoord::e2e {
namespace {

class DurableVisibleE2e : public E2eTest {};

std::size_t Count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST_F(DurableVisibleE2e, NothingCommitsBeforeTheDecisionIsDurableAndAKillThereAborts) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 50);
  ASSERT_TRUE(StartDaemon("coordinator.commit_decision.before_durable=delay(6000)"));
  const auto gid = Gid("t1");
  const std::map<std::string, std::string> key{{"Idempotency-Key", cid_ + "-k1"}};
  auto first = std::async(std::launch::async, [&] {
    return Http(port_, "POST", "/v1/transactions", TransferBody(gid, acc, wal, 30), key, 20s);
  });
  // Both branches prepared: the engine is at the COMMIT append, held there.
  ASSERT_TRUE(testing::Eventually(
      [&] {
        HttpReply g = Get("/v1/transactions/" + gid);
        return g.status == 200 && Count(g.body, "\"state\":\"prepared\"") == 2;
      },
      10s));

  HttpReply retry = Post("/v1/transactions/" + gid + "/retry", "");
  EXPECT_GE(retry.status, 400) << retry.body;
  EXPECT_LT(retry.status, 500) << retry.body;
  HttpReply again =
      Http(port_, "POST", "/v1/transactions?wait=false", TransferBody(gid, acc, wal, 30), key);
  EXPECT_EQ(again.status, 409) << again.body;  // still running, not "committed"
  EXPECT_EQ(again.body.find("committ"), std::string::npos) << again.body;
  HttpReply got = Get("/v1/transactions/" + gid);
  EXPECT_EQ(JsonField(got.body, "state"), "preparing") << got.body;
  EXPECT_EQ(Balance(acc), 100);
  EXPECT_EQ(Wallet(wal), 50);

  daemon_->Kill();  // kill -9 before the COMMIT record is durable
  EXPECT_EQ(first.get().status, -1);
  ASSERT_TRUE(RestartDaemon());
  EXPECT_EQ(WaitFinal(gid), "aborted");
  EXPECT_EQ(Balance(acc), 100);
  EXPECT_EQ(Wallet(wal), 50);
  ExpectNoLeftovers();
  HttpReply metrics = Get("/metrics");
  EXPECT_EQ(metrics.body.find("txcoord_participant_breaker_open{participant=\"bank-pg\"} 1"),
            std::string::npos);
  // The participants serve the next transfer at once.
  HttpReply next = Post("/v1/transactions", TransferBody(Gid("t2"), acc, wal, 10));
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(JsonField(next.body, "state"), "committed");
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Wallet(wal), 60);
}

// Step 1 debits bank-pg (compensated by a credit), step 2 credits wallet-redis.
std::string SagaBody(const std::string& gid, const std::string& acc, const std::string& wal,
                     int amount) {
  const std::string a = std::to_string(amount);
  return R"({"mode":"saga","gid":")" + gid +
         R"(","branches":[)"
         R"({"participant":"bank-pg","action":"debit","payload":{"account":")" +
         acc + R"(","amount":)" + a +
         R"(},"compensation":{"action":"credit","payload":{"account":")" + acc + R"(","amount":)" +
         a +
         R"(}}},)"
         R"({"participant":"wallet-redis","action":"credit","payload":{"account":")" +
         wal + R"(","amount":)" + a + "}}]}";
}

TEST_F(DurableVisibleE2e, AReusedSagaGidRunsItsStepsAgain) {
  extra_config_ = "\"max_finished_kept\":1,";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("s1");
  HttpReply r1 = Post("/v1/transactions", SagaBody(gid, acc, wal, 10));
  ASSERT_EQ(r1.status, 200) << r1.body;
  ASSERT_EQ(WaitFinal(gid), "committed");
  ASSERT_EQ(Post("/v1/transactions", TransferBody(Gid("t2"), acc, wal, 5)).status, 200);
  ASSERT_EQ(WaitFinal(Gid("t2")), "committed");
  ASSERT_EQ(Get("/v1/transactions/" + gid).status, 404) << "forgotten";
  HttpReply r2 = Post("/v1/transactions", SagaBody(gid, acc, wal, 20));
  ASSERT_EQ(r2.status, 200) << r2.body;
  ASSERT_EQ(WaitFinal(gid), "committed");
  EXPECT_EQ(Balance(acc), 65) << "answered committed: the second saga must have run";
  EXPECT_EQ(Wallet(wal), 35);
}

}  // namespace
}  // namespace txcoord::e2e
