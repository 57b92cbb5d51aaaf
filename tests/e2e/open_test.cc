// Open (joined, XA-style) transactions: the test plays the participant service. It prepares its
// work in PostgreSQL under the coordinator's prepared name and registers the branch; the
// coordinator decides and runs phase 2.
#include <thread>

#include "harness.h"

namespace txcoord::e2e {
namespace {

class OpenTest : public E2eTest {
 protected:
  // Opens gid, prepares "+amount on account" as branch b1 and registers it.
  void OpenAndPrepare(const std::string& gid, const std::string& account, int amount,
                      long long timeout_ms = 10'000) {
    HttpReply open =
        Post("/v1/transactions", "{\"mode\":\"2pc\",\"open\":true,\"gid\":\"" + gid +
                                     "\",\"timeout_ms\":" + std::to_string(timeout_ms) + "}");
    ASSERT_EQ(open.status, 201) << open.body;
    EXPECT_EQ(JsonField(open.body, "state"), "active");
    EXPECT_EQ(JsonField(open.body, "open"), "true");
    Pg service(pg_dsn_);
    ASSERT_TRUE(service.Exec("BEGIN; UPDATE e2e_accounts SET balance = balance + " +
                             std::to_string(amount) + " WHERE id = '" + account +
                             "'; PREPARE TRANSACTION '" + PreparedName(gid, "b1") + "'"))
        << service.last_error();
    HttpReply reg = Post("/v1/transactions/" + gid + "/branches",
                         "{\"participant\":\"bank-pg\",\"branch\":\"b1\"}");
    ASSERT_EQ(reg.status, 200) << reg.body;
    EXPECT_NE(reg.body.find("\"branch\":\"b1\""), std::string::npos) << reg.body;
    EXPECT_EQ(PreparedCount(cid_), 1);
  }
};

TEST_F(OpenTest, CommitCommitsTheRegisteredPreparedWork) {
  const auto acc = CreateAccount("a", 100);
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("o1");
  ASSERT_NO_FATAL_FAILURE(OpenAndPrepare(gid, acc, 7));
  EXPECT_EQ(Balance(acc), 100);  // prepared, not visible yet
  HttpReply c = Post("/v1/transactions/" + gid + "/commit", "");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(JsonField(c.body, "state"), "committed");
  EXPECT_EQ(WaitFinal(gid), "committed");
  EXPECT_EQ(Balance(acc), 107);
  ExpectNoLeftovers();
  // Ending it again is answered from the final state or refused; never applied twice.
  Post("/v1/transactions/" + gid + "/commit", "");
  EXPECT_EQ(Balance(acc), 107);
}

TEST_F(OpenTest, AbortRollsBackTheRegisteredPreparedWork) {
  const auto acc = CreateAccount("a", 100);
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("o2");
  ASSERT_NO_FATAL_FAILURE(OpenAndPrepare(gid, acc, 7));
  HttpReply a = Post("/v1/transactions/" + gid + "/abort", "");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(JsonField(a.body, "state"), "aborted");
  EXPECT_EQ(WaitFinal(gid), "aborted");
  EXPECT_EQ(Balance(acc), 100);
  ExpectNoLeftovers();
  EXPECT_EQ(Post("/v1/transactions/" + gid + "/branches",
                 "{\"participant\":\"bank-pg\",\"branch\":\"b2\"}")
                    .status /
                100,
            4);
}

TEST_F(OpenTest, OpenTransactionPastItsTimeoutIsAborted) {
  const auto acc = CreateAccount("a", 100);
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("o3");
  ASSERT_NO_FATAL_FAILURE(OpenAndPrepare(gid, acc, 7, 1500));
  EXPECT_EQ(WaitFinal(gid, 10s), "aborted");
  EXPECT_EQ(Balance(acc), 100);
  ExpectNoLeftovers();
  EXPECT_EQ(Post("/v1/transactions/" + gid + "/commit", "").status / 100, 4);
}

TEST_F(OpenTest, BadRegistrationsAreRejected) {
  ASSERT_TRUE(StartDaemon());
  const auto gid = Gid("o4");
  ASSERT_EQ(
      Post("/v1/transactions", "{\"mode\":\"2pc\",\"open\":true,\"gid\":\"" + gid + "\"}").status,
      201);
  auto reg = [&](const std::string& target, const std::string& body) {
    return Post("/v1/transactions/" + target + "/branches", body);
  };
  EXPECT_EQ(reg(gid, "{\"participant\":\"nope\",\"branch\":\"b1\"}").status, 400);
  EXPECT_EQ(reg(gid, "{\"participant\":\"bank-pg\",\"branch\":\"bad branch\"}").status, 400);
  EXPECT_EQ(reg(gid, "{\"participant\":\"bank-pg\"").status, 400);
  EXPECT_EQ(reg(Gid("unknown"), "{\"participant\":\"bank-pg\",\"branch\":\"b1\"}").status, 404);
  EXPECT_EQ(Post("/v1/transactions/" + gid + "/abort", "").status, 200);
}

}  // namespace
}  // namespace txcoord::e2e
