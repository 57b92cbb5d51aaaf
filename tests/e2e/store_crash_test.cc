// Store crashes between prepare and commit: PostgreSQL stopped with `immediate` (a crash, no
// shutdown checkpoint) or Redis SIGKILLed, both restarted while txcoordd holds a durable COMMIT
// decision. Prepared work must survive the store's crash and be committed by phase 2's retries
// (the adapters' pools reconnect). Restarts the shared servers: RUN_SERIAL.
#include <cstdlib>
#include <thread>

#include "harness.h"
#include "txcoord/testing/env.h"
#include "txcoord/testing/poll.h"

namespace txcoord::e2e {
namespace {

class StoreCrashTest : public E2eTest {
 protected:
  // Starts a transfer whose phase 2 is held back by a delay after the durable decision, waits
  // until both branches are prepared, runs `restart` (shell commands), then checks the outcome.
  void TransferAcrossRestart(const std::string& restart) {
    TXC_REQUIRE_ENV(services, "TXC_SERVICES");
    const auto acc = CreateAccount("a", 100);
    const auto wal = CreateWallet("w", 50);
    ASSERT_TRUE(StartDaemon("coordinator.after_decision_durable=delay(1500)"));
    const auto gid = Gid("t1");
    HttpReply reply;
    std::thread client([&] {
      reply = Http(port_, "POST", "/v1/transactions", TransferBody(gid, acc, wal, 30), {}, 60s);
    });
    EXPECT_TRUE(txcoord::testing::Eventually([&] { return PreparedCount(cid_) == 1; }))
        << "the PostgreSQL branch never prepared";
    const std::string cmd = "S=" + services + "; " + restart + " >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    client.join();
    pg_ = std::make_unique<Pg>(pg_dsn_);  // the old connections died with the server
    redis_ = std::make_unique<Redis>(redis_url_);
    ASSERT_TRUE(pg_->ok()) << pg_->last_error();
    ASSERT_TRUE(redis_->ok()) << redis_->last_error();
    EXPECT_TRUE(reply.status == 200 || reply.status == -1) << reply.status << reply.body;
    if (reply.status == 200) {
      EXPECT_EQ(JsonField(reply.body, "state"), "committed");
    }

    EXPECT_EQ(WaitFinal(gid, 40s), "committed");
    EXPECT_EQ(Balance(acc), 70);
    EXPECT_EQ(Wallet(wal), 80);
    ExpectNoLeftovers();
  }
};

TEST_F(StoreCrashTest, PostgresCrashAfterPrepareStillCommits) {
  TransferAcrossRestart("$S pg-stop immediate && $S pg-start");
}

TEST_F(StoreCrashTest, RedisKillAfterPrepareStillCommits) {
  TransferAcrossRestart("$S redis-stop --kill && $S redis-start");
}

}  // namespace
}  // namespace txcoord::e2e
