// Redis restarts and stalls: prepared state survives kill -9 (AOF, appendfsync always), the pool
// reconnects, the script cache is reloaded, and a reply lost to a timeout is an unknown outcome.
// These tests stop or pause the shared server: the binary runs with RUN_SERIAL.

#include <cstdlib>
#include <thread>

#include "redis_fixture.h"
#include "throwaway_redis.h"
#include "txcoord/testing/poll.h"

namespace txcoord::redis::testing {
namespace {

using participant::Vote;

class RestartTest : public RedisTest {
 protected:
  void Services(const std::string& args) {
    TXC_REQUIRE_ENV(services, "TXC_SERVICES");
    ASSERT_EQ(std::system((services + " " + args + " >/dev/null").c_str()), 0) << args;
  }
  void Reconnect() {
    Result<Endpoint> e = ParseUrl(url_);
    ASSERT_TRUE(e.ok());
    raw_.reset(redisConnect(e->host.c_str(), e->port));
    ASSERT_TRUE(raw_ && !raw_->err);
  }
};

TEST_F(RestartTest, PreparedBranchesSurviveKillAndAreDecidedAfterwards) {
  const std::string coord = Unique("c").substr(0, 32);
  const std::string a1 = Unique(), a2 = Unique(), a3 = Unique();
  Set(Wallet(a1), "100");
  Set(Wallet(a2), "100");
  const participant::BranchId commit_me{coord, Unique("g"), "b1"};
  const participant::BranchId abort_me{coord, Unique("g"), "b2"};
  auto v1 = p_->Prepare(Call(commit_me, "debit", {{"account", a1}, {"amount", "40"}}));
  auto v2 = p_->Prepare(Call(abort_me, "debit", {{"account", a2}, {"amount", "40"}}));
  ASSERT_TRUE(v1.ok() && v1->vote == Vote::kYes && v2.ok() && v2->vote == Vote::kYes);
  auto other = Make(0);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->InDoubt(coord).ok());  // `other` has a pooled connection too

  ASSERT_NO_FATAL_FAILURE(Services("redis-stop --kill"));
  // While the server is down: nothing can be done, and the caller is told to retry.
  const Status down = other->Commit(commit_me);
  EXPECT_TRUE(down.code() == Code::kUnavailable || down.code() == Code::kUnknownOutcome) << down;
  EXPECT_EQ(other->Abort(abort_me).code(), Code::kUnavailable);  // not even sent
  ASSERT_NO_FATAL_FAILURE(Services("redis-start"));
  ASSERT_NO_FATAL_FAILURE(Reconnect());

  // p_'s pooled connections are stale: the first (mutating) call replaces them transparently,
  // and the empty script cache is reloaded.
  const participant::BranchId fresh{coord, Unique("g"), "b3"};
  auto v3 = p_->Prepare(Call(fresh, "credit", {{"account", a3}, {"amount", "1"}}));
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_EQ(v3->vote, Vote::kYes);
  auto listed = p_->InDoubt(coord);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ(Get(Wallet(a1)), "100");
  EXPECT_EQ(Get("txc:{" + a1 + "}:l:" + Wallet(a1)), participant::PreparedName(commit_me));
  ASSERT_TRUE(p_->Commit(commit_me).ok());
  ASSERT_TRUE(p_->Abort(abort_me).ok());
  ASSERT_TRUE(p_->Abort(fresh).ok());
  EXPECT_EQ(Get(Wallet(a1)), "60");
  EXPECT_EQ(Get(Wallet(a2)), "100");
  EXPECT_EQ(Get(Wallet(a3)), "<nil>");
  EXPECT_TRUE(p_->InDoubt(coord)->empty());
}

TEST_F(RestartTest, AFreshParticipantAfterRestartCommitsWithAnEmptyScriptCache) {
  const std::string acct = Unique();
  Set(Wallet(acct), "1");
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "credit", {{"account", acct}, {"amount", "9"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes);
  ASSERT_NO_FATAL_FAILURE(Services("redis-stop --kill"));
  ASSERT_NO_FATAL_FAILURE(Services("redis-start"));
  ASSERT_NO_FATAL_FAILURE(Reconnect());
  auto fresh = Make(0);
  ASSERT_NE(fresh, nullptr);
  ASSERT_TRUE(fresh->Commit(id).ok());
  ASSERT_TRUE(fresh->Commit(id).ok());
  EXPECT_EQ(Get(Wallet(acct)), "10");
}

TEST_F(RestartTest, ATimeoutAfterSendingIsAnUnknownOutcomeAndTheRetryIsSafe) {
  auto quick = Make(0, Clock::Real(), /*timeout_ms=*/200);
  ASSERT_NE(quick, nullptr);
  const std::string acct = Unique();
  Set(Wallet(acct), "1");
  const auto id = Branch(Unique("g"));
  auto v = quick->Prepare(Call(id, "credit", {{"account", acct}, {"amount", "2"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes);
  // Stalls write commands (our scripts) for 1 s; reads still answer.
  RawReply paused = Cmd({"CLIENT", "PAUSE", "1000", "WRITE"});
  ASSERT_TRUE(paused && paused->type == REDIS_REPLY_STATUS);
  EXPECT_EQ(quick->Commit(id).code(), Code::kUnknownOutcome);
  // The stalled commit runs when the pause ends (or the retry does): applied exactly once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Status retried;
  do {
    retried = quick->Commit(id);
  } while (!retried.ok() && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(retried.ok()) << retried;
  EXPECT_EQ(Get(Wallet(acct)), "3");
}

// A second, throw-away server without AOF: Create must say that it cannot keep prepared state.
TEST_F(RestartTest, WarnsWhenTheServerIsNotDurable) {
  ThrowawayRedis server({});
  ASSERT_TRUE(server.ok()) << "throw-away redis-server on " << server.port() << " did not start";
  Result<Config> cfg = ParseConfigText(ConfigJson(server.url()));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto p = RedisParticipant::Create(*cfg);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ((*p)->warnings().size(), 2u);
  EXPECT_NE((*p)->warnings()[0].find("appendonly is 'no'"), std::string::npos);
  EXPECT_NE((*p)->warnings()[1].find("appendfsync is 'everysec'"), std::string::npos);
}

}  // namespace
}  // namespace txcoord::redis::testing
