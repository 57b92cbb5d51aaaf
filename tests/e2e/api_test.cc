// txcoordd end to end over HTTP, checked in PostgreSQL and Redis: commit, abort on a no vote,
// prepare timeout, idempotency (also across a kill -9), bad requests, auth, orphan scan,
// health and metrics.
#include <thread>
#include <vector>

#include "harness.h"
#include "txcoord/testing/poll.h"

namespace txcoord::e2e {
namespace {

using ApiTest = E2eTest;

TEST_F(ApiTest, TransferCommitsInBothStores) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 5);
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("t1");
  HttpReply r = Post("/v1/transactions", TransferBody(gid, acc, wal, 30));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(JsonField(r.body, "state"), "committed");
  EXPECT_EQ(JsonField(r.body, "gid"), gid);
  EXPECT_EQ(JsonField(r.body, "phase2_complete"), "true");
  EXPECT_EQ(Balance(acc), 70);
  EXPECT_EQ(Wallet(wal), 35);

  HttpReply g = Get("/v1/transactions/" + gid);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(JsonField(g.body, "state"), "committed");
  EXPECT_EQ(JsonField(g.body, "mode"), "2pc");
  EXPECT_NE(g.body.find("\"participant\":\"bank-pg\""), std::string::npos) << g.body;
  EXPECT_NE(g.body.find("\"participant\":\"wallet-redis\""), std::string::npos) << g.body;

  HttpReply list = Get("/v1/transactions?state=committed");
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("\"gid\":\"" + gid + "\""), std::string::npos) << list.body;
  HttpReply aborted = Get("/v1/transactions?state=aborted");
  ASSERT_EQ(aborted.status, 200);
  EXPECT_EQ(aborted.body.find("\"gid\":\"" + gid + "\""), std::string::npos);
  EXPECT_EQ(Get("/v1/transactions/" + Gid("never")).status, 404);
  ExpectNoLeftovers();
}

TEST_F(ApiTest, NoVoteAbortsAndChangesNothing) {
  const auto acc = CreateAccount("a", 10);
  const auto wal = CreateWallet("w", 5);
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("t1");
  HttpReply r = Post("/v1/transactions", TransferBody(gid, acc, wal, 11));  // insufficient funds
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(JsonField(r.body, "state"), "aborted");
  EXPECT_FALSE(JsonField(r.body, "reason").empty()) << r.body;
  EXPECT_EQ(Balance(acc), 10);
  EXPECT_EQ(Wallet(wal), 5);
  EXPECT_EQ(WaitFinal(gid), "aborted");
  ExpectNoLeftovers();
}

// With a limit no real call reaches, both stores count as quick after their first calls: a
// request makes its prepares and commits itself, one after another. Transfers stay atomic; a
// refused debit leaves the wallet's prepare unmade and nothing behind.
TEST_F(ApiTest, QuickParticipantsCalledInTurnKeepTransfersAtomic) {
  extra_config_ = "\"inline_calls_under_us\":1000000,";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  for (int i = 0; i < 10; ++i) {
    HttpReply r = Post("/v1/transactions", TransferBody(Gid("t" + std::to_string(i)), acc, wal, 1));
    ASSERT_EQ(r.status, 200) << r.body << r.error;
    EXPECT_EQ(JsonField(r.body, "state"), "committed") << r.body;
  }
  HttpReply m = Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("\ntxcoord_participant_quick{participant=\"bank-pg\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("\ntxcoord_participant_quick{participant=\"wallet-redis\"} 1\n"),
            std::string::npos)
      << m.body;
  const auto gid = Gid("too-much");
  HttpReply r = Post("/v1/transactions", TransferBody(gid, acc, wal, 1000));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(JsonField(r.body, "state"), "aborted") << r.body;
  EXPECT_EQ(WaitFinal(gid), "aborted");
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Wallet(wal), 10);
  ExpectNoLeftovers();
}

TEST_F(ApiTest, SlowPrepareTimesOutAndAborts) {
  // The prepare timeout (300 ms) fires long before the participant's lock_timeout (2 s); the
  // POST answers after the decision without waiting long for phase 2.
  extra_config_ = "\"phase2_wait_ms\":200,";
  pg_extra_ = "\"lock_timeout_ms\":2000,";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 5);
  ASSERT_TRUE(StartDaemon());
  // Another session holds the account's row lock: the debit's prepare blocks on it.
  Pg locker(pg_dsn_);
  ASSERT_TRUE(locker.Exec("BEGIN; SELECT * FROM e2e_accounts WHERE id = '" + acc + "' FOR UPDATE"))
      << locker.last_error();
  const auto gid = Gid("t1");
  HttpReply r = Post("/v1/transactions", TransferBody(gid, acc, wal, 30, 300));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(JsonField(r.body, "state"), "aborted") << r.body;
  EXPECT_NE(JsonField(r.body, "reason").find("timeout"), std::string::npos) << r.body;
  ASSERT_TRUE(locker.Exec("ROLLBACK"));
  // The blocked prepare now goes on and prepares after the abort decision: phase 2 must still
  // roll it back (the abort's fence waits for it, times out, and the retry finds it prepared).
  EXPECT_EQ(WaitFinal(gid), "aborted");
  ::txcoord::testing::Eventually([&] { return PreparedCount(cid_) == 0; }, 10s);
  EXPECT_EQ(Balance(acc), 100);
  EXPECT_EQ(Wallet(wal), 5);
  ExpectNoLeftovers();
}

TEST_F(ApiTest, IdempotencyKeyReplaysAndRejectsAnotherBody) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  const std::map<std::string, std::string> key = {{"Idempotency-Key", cid_ + "-k1"}};
  const auto body = TransferBody(Gid("t1"), acc, wal, 10);
  HttpReply first = Post("/v1/transactions", body, key);
  ASSERT_EQ(first.status, 200) << first.body;
  HttpReply again = Post("/v1/transactions", body, key);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.headers["Idempotent-Replayed"], "true");
  EXPECT_EQ(JsonField(again.body, "gid"), JsonField(first.body, "gid"));
  EXPECT_EQ(JsonField(again.body, "state"), "committed");
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Wallet(wal), 10);

  HttpReply other = Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 11), key);
  EXPECT_EQ(other.status, 422) << other.body;
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Wallet(wal), 10);
}

TEST_F(ApiTest, ConcurrentSameKeyAppliesOnce) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  const std::map<std::string, std::string> key = {{"Idempotency-Key", cid_ + "-k"}};
  const auto body = TransferBody(Gid("t1"), acc, wal, 10);
  std::vector<HttpReply> replies(4);
  std::vector<std::thread> threads;
  for (auto& r : replies) {
    threads.emplace_back([&] { r = Http(port_, "POST", "/v1/transactions", body, key); });
  }
  for (auto& t : threads) t.join();
  int committed = 0;
  for (const auto& r : replies) {
    ASSERT_TRUE(r.status == 200 || r.status == 409) << r.status << " " << r.body << r.error;
    if (r.status == 200) {
      EXPECT_EQ(JsonField(r.body, "state"), "committed");
      ++committed;
    }
  }
  EXPECT_GE(committed, 1);
  EXPECT_EQ(WaitFinal(Gid("t1")), "committed");
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Wallet(wal), 10);
}

TEST_F(ApiTest, ReplayAfterKillAndRestartAnswersTheSame) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  const std::map<std::string, std::string> key = {{"Idempotency-Key", cid_ + "-k"}};
  const auto body = TransferBody(Gid("t1"), acc, wal, 25);
  HttpReply first = Post("/v1/transactions", body, key);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_TRUE(RestartDaemon());
  HttpReply again = Post("/v1/transactions", body, key);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.headers["Idempotent-Replayed"], "true");
  EXPECT_EQ(JsonField(again.body, "gid"), Gid("t1"));
  EXPECT_EQ(JsonField(again.body, "state"), "committed");
  EXPECT_EQ(Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 26), key).status, 422);
  EXPECT_EQ(Balance(acc), 75);
  EXPECT_EQ(Wallet(wal), 25);
}

TEST_F(ApiTest, DuplicateGidConflictsAndWaitFalseAccepts) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  HttpReply accepted = Post("/v1/transactions?wait=false", TransferBody(Gid("t1"), acc, wal, 10));
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  EXPECT_EQ(JsonField(accepted.body, "gid"), Gid("t1"));
  EXPECT_EQ(WaitFinal(Gid("t1")), "committed");
  HttpReply dup = Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 10));
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_EQ(Post("/v1/transactions?wait=maybe", TransferBody(Gid("t2"), acc, wal, 10)).status, 400);
  EXPECT_EQ(Post("/v1/transactions/" + Gid("t1") + "/retry", "").status, 400);
  EXPECT_EQ(Post("/v1/transactions/" + Gid("none") + "/retry", "").status, 404);
  EXPECT_EQ(Http(port_, "DELETE", "/v1/transactions/" + Gid("t1")).status, 405);
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Wallet(wal), 10);
  ExpectNoLeftovers();
}

// A finished transaction is kept across kill -9 and restart (the END replayed from the log, or
// a checkpoint's finished entries): GET answers its outcome, not 404, and its gid is still
// taken. (A gid forgotten after max_finished_kept newer ones: GidReusedAfterItWasForgottenRunsAgain.)
TEST_F(ApiTest, AFinishedTransactionAnswersTheSameAfterKillAndRestart) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  ASSERT_EQ(Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 10)).status, 200);
  HttpReply before = Get("/v1/transactions/" + Gid("t1"));
  ASSERT_EQ(before.status, 200) << before.body;
  // t2's forced BEGIN makes t1's lazy END durable; t2's own END may be lost in the kill, and
  // then recovery commits t2 again (idempotent) before it answers "committed".
  ASSERT_EQ(Post("/v1/transactions", TransferBody(Gid("t2"), acc, wal, 5)).status, 200);
  ASSERT_TRUE(RestartDaemon());
  for (const char* t : {"t1", "t2"}) {
    EXPECT_EQ(WaitFinal(Gid(t)), "committed") << t;
    HttpReply after = Get("/v1/transactions/" + Gid(t));
    ASSERT_EQ(after.status, 200) << t << ": " << after.body;
    std::size_t committed = 0;
    for (auto at = after.body.find("\"state\":\"committed\""); at != std::string::npos;
         at = after.body.find("\"state\":\"committed\"", at + 1)) {
      ++committed;
    }
    EXPECT_EQ(committed, 3u) << "the transaction and both branches: " << after.body;
  }
  EXPECT_EQ(JsonField(Get("/v1/transactions/" + Gid("t1")).body, "created_at"),
            JsonField(before.body, "created_at"));
  HttpReply reused = Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 20));
  EXPECT_EQ(reused.status, 409) << reused.body;
  EXPECT_EQ(Balance(acc), 85);
  EXPECT_EQ(Wallet(wal), 15);
}

// A gid forgotten after max_finished_kept newer transactions finished (here 1, across a kill
// and restart) is accepted again as a new transaction. It used to reuse the branch ids b0, b1:
// every store found its barrier "committed", voted yes, and the API answered "committed" for a
// transfer that moved nothing. Branch ids are new per transaction, so the second one runs.
TEST_F(ApiTest, GidReusedAfterItWasForgottenRunsAgain) {
  extra_config_ = "\"max_finished_kept\":1,";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  ASSERT_EQ(Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 10)).status, 200);
  ASSERT_EQ(Post("/v1/transactions", TransferBody(Gid("t2"), acc, wal, 5)).status, 200);
  ASSERT_TRUE(RestartDaemon());
  ASSERT_EQ(WaitFinal(Gid("t2")), "committed");  // (its END may have been lost in the kill)
  EXPECT_EQ(Get("/v1/transactions/" + Gid("t1")).status, 404) << "forgotten";
  HttpReply r = Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 20));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonField(r.body, "state"), "committed");
  EXPECT_EQ(Balance(acc), 65) << "answered committed: the second transfer must have run";
  EXPECT_EQ(Wallet(wal), 35);
}

TEST_F(ApiTest, BadRequestsAreRejectedWithAReasonAndChangeNothing) {
  extra_config_ = "\"max_body_bytes\":4096,";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  auto expect_400 = [&](const std::string& body, const std::string& what) {
    HttpReply r = Post("/v1/transactions", body);
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    EXPECT_FALSE(JsonField(r.body, "error.message").empty()) << what << ": " << r.body;
  };
  expect_400("{\"mode\":\"2pc\",", "bad JSON");
  expect_400("[]", "not an object");
  std::string unknown_action = TransferBody(Gid("t1"), acc, wal, 10);
  unknown_action.replace(unknown_action.find("\"debit\""), 7, "\"steal\"");
  expect_400(unknown_action, "unknown action");
  std::string unknown_participant = TransferBody(Gid("t2"), acc, wal, 10);
  unknown_participant.replace(unknown_participant.find("bank-pg"), 7, "nope-pg");
  expect_400(unknown_participant, "unknown participant");
  expect_400(TransferBody("bad gid!", acc, wal, 10), "bad gid");
  expect_400(TransferBody(Gid("t3"), acc, wal, 10, -5), "negative timeout");

  HttpReply big = Post("/v1/transactions", std::string(8192, ' '));
  EXPECT_EQ(big.status, 413) << big.body << big.error;
  HttpReply type = Post("/v1/transactions", TransferBody(Gid("t4"), acc, wal, 10),
                        {{"Content-Type", "text/plain"}});
  EXPECT_EQ(type.status, 415) << type.body;
  HttpReply badkey = Post("/v1/transactions", TransferBody(Gid("t5"), acc, wal, 10),
                          {{"Idempotency-Key", std::string(300, 'k')}});
  EXPECT_EQ(badkey.status, 400) << badkey.body;
  EXPECT_EQ(Get("/v1/transactions?state=bogus").status, 400);
  EXPECT_EQ(Get("/v1/nothing").status, 404);

  EXPECT_EQ(Balance(acc), 100);
  EXPECT_EQ(Wallet(wal), 0);
  for (const char* t : {"t1", "t2", "t3", "t4", "t5"}) {
    EXPECT_EQ(Get("/v1/transactions/" + Gid(t)).status, 404) << t;
  }
  EXPECT_EQ(Get("/healthz").status, 200);  // the server survived all of it
}

// POST /v1/transactions/{gid}/resolve outside a stuck situation (those are in
// tests/tools/txctl_online_test.cc): bad bodies, unknown gid, a finished transaction, methods.
TEST_F(ApiTest, ResolveRouteRefusesBadBodiesUnknownAndFinishedTransactions) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  const std::string gid = Gid("t1");
  ASSERT_EQ(Post("/v1/transactions", TransferBody(gid, acc, wal, 10)).status, 200);
  ASSERT_EQ(WaitFinal(gid), "committed");
  const std::string path = "/v1/transactions/" + gid + "/resolve";
  for (const char* body : {"{\"outcome\":\"abort\"}", "{\"outcome\":\"undo\",\"reason\":\"r\"}",
                           "{\"outcome\":\"abort\",\"reason\":\"\"}",
                           "{\"outcome\":\"abort\",\"reason\":\"r\",\"force\":1}", "nope"}) {
    HttpReply r = Post(path, body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
    EXPECT_EQ(JsonField(r.body, "error.code"), "INVALID_ARGUMENT") << r.body;
  }
  HttpReply type =
      Post(path, "{\"outcome\":\"abort\",\"reason\":\"r\"}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(type.status, 415) << type.body;
  HttpReply unknown = Post("/v1/transactions/" + Gid("none") + "/resolve",
                           "{\"outcome\":\"abort\",\"reason\":\"r\"}");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  HttpReply finished =
      Post(path, "{\"outcome\":\"abort\",\"force\":true,\"reason\":\"r\",\"operator\":\"bob\"}");
  EXPECT_EQ(finished.status, 409) << finished.body;
  EXPECT_NE(JsonField(finished.body, "error.message").find("already committed"), std::string::npos)
      << finished.body;
  EXPECT_EQ(Get(path).status, 405);
  HttpReply view = Get("/v1/transactions/" + gid);
  EXPECT_EQ(JsonField(view.body, "state"), "committed");
  EXPECT_NE(view.body.find("\"heuristic\":false"), std::string::npos) << view.body;
  EXPECT_NE(view.body.find("\"record\":\"decision\",\"detail\":\"commit\""), std::string::npos)
      << view.body;
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Wallet(wal), 10);
}

TEST_F(ApiTest, TokenIsRequiredWhenConfigured) {
  extra_config_ = "\"token\":\"s3cret\",";
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  const auto body = TransferBody(Gid("t1"), acc, wal, 10);
  EXPECT_EQ(Post("/v1/transactions", body).status, 401);
  EXPECT_EQ(Post("/v1/transactions", body, {{"Authorization", "Bearer wrong"}}).status, 403);
  EXPECT_EQ(Http(port_, "GET", "/v1/transactions").status, 401);
  EXPECT_EQ(
      Post("/v1/transactions/" + Gid("t1") + "/resolve", "{\"outcome\":\"abort\",\"reason\":\"r\"}")
          .status,
      401);
  EXPECT_EQ(Balance(acc), 100);
  HttpReply ok = Post("/v1/transactions", body, {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Balance(acc), 90);
  EXPECT_EQ(Get("/healthz").status, 200);  // health and metrics stay open
  EXPECT_EQ(Get("/metrics").status, 200);
}

TEST_F(ApiTest, OrphanScanRollsBackOnlyOurUnknownPreparedBranches) {
  extra_config_ = "\"orphan_scan_interval_ms\":200,\"orphan_min_age_ms\":200,";
  const auto acc = CreateAccount("a", 100);
  ASSERT_TRUE(StartDaemon());
  const std::string ours = PreparedName(Gid("orphan"), "b0");
  const std::string other_cid = cid_ + "-x";
  const std::string theirs = "txc:" + other_cid + ":" + Gid("orphan") + ":b0";
  Pg a(pg_dsn_), b(pg_dsn_);
  ASSERT_TRUE(a.Exec("BEGIN; UPDATE e2e_accounts SET balance = balance + 1 WHERE id = '" + acc +
                     "'; PREPARE TRANSACTION '" + ours + "'"))
      << a.last_error();
  ASSERT_TRUE(b.Exec("BEGIN; SELECT 1; PREPARE TRANSACTION '" + theirs + "'")) << b.last_error();
  ::txcoord::testing::Eventually([&] { return PreparedCount(cid_) == 0; }, 15s);
  EXPECT_EQ(PreparedCount(cid_), 0) << "orphan not rolled back";
  EXPECT_EQ(PreparedCount(other_cid), 1) << "another coordinator's branch was touched";
  EXPECT_EQ(Balance(acc), 100);
  EXPECT_TRUE(pg_->Exec("ROLLBACK PREPARED '" + theirs + "'")) << pg_->last_error();
}

TEST_F(ApiTest, HealthReadinessAndMetrics) {
  const auto acc = CreateAccount("a", 100);
  const auto wal = CreateWallet("w", 0);
  ASSERT_TRUE(StartDaemon());
  EXPECT_EQ(Get("/healthz").status, 200);
  HttpReply ready = Get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(JsonField(ready.body, "status"), "ready");
  ASSERT_EQ(Post("/v1/transactions", TransferBody(Gid("t1"), acc, wal, 10)).status, 200);
  ASSERT_EQ(Post("/v1/transactions", TransferBody(Gid("t2"), acc, wal, 1000)).status, 200);
  HttpReply m = Get("/metrics");
  ASSERT_EQ(m.status, 200);
  auto value = [&](const std::string& series) -> double {
    const auto at = m.body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(m.body.substr(at + series.size() + 2));
  };
  EXPECT_EQ(value("txcoord_transactions_total{mode=\"2pc\",outcome=\"committed\"}"), 1) << m.body;
  EXPECT_EQ(value("txcoord_transactions_total{mode=\"2pc\",outcome=\"aborted\"}"), 1) << m.body;
  EXPECT_EQ(value("txcoord_ready"), 1);
  EXPECT_GE(value("txcoord_wal_appends_total"), 2);
  // Real stores take far longer than the default inline_calls_under (100 µs).
  EXPECT_EQ(value("txcoord_participant_quick{participant=\"bank-pg\"}"), 0) << m.body;
  EXPECT_GE(value("txcoord_http_requests_total{route=\"/v1/transactions\",status=\"200\"}"), 2)
      << m.body;
}

}  // namespace
}  // namespace txcoord::e2e
