// index_in_script against servers of the test's own: the round trips of each call on a
// standalone server (counted by the participant's pool; nobody else flushes the script cache
// here), a cluster keeps the two-round-trip path (and shows why: a script that binds the index
// is refused there), a server that refuses INFO gets it with a warning, and one unreachable at
// start is asked again once it answers.
#include <gtest/gtest.h>

#include <tuple>

#include "redis_fixture.h"
#include "throwaway_redis.h"

namespace txcoord::redis::testing {
namespace {

using participant::Outcome;
using participant::Vote;

std::unique_ptr<RedisParticipant> Participant(const std::string& url, const std::string& mode) {
  Result<Config> c = ParseConfigText(ConfigJson(url, 0, 2000, mode));
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return nullptr;
  Result<std::unique_ptr<RedisParticipant>> p = RedisParticipant::Create(*c);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(p).value() : nullptr;
}

bool Mentions(const std::vector<std::string>& warnings, const std::string& text) {
  for (const std::string& w : warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

// Round trips a call of `p` took.
template <typename F>
std::uint64_t Trips(RedisParticipant& p, F&& call) {
  const std::uint64_t before = p.round_trips();
  call();
  return p.round_trips() - before;
}

// Runs every script once, so that later calls find them in the server's cache (a first
// EVALSHA is answered NOSCRIPT and resent as EVAL: one round trip more). One script text
// serves both index modes.
void WarmScriptCache(const std::string& url) {
  auto p = Participant(url, "on");
  ASSERT_NE(p, nullptr);
  const participant::Payload pay = {{"account", "warm"}, {"amount", "1"}};
  const participant::BranchId a{"coord-w", "g1", "b1"}, b{"coord-w", "g2", "b1"},
      s{"coord-w", "s1", "b1"};
  ASSERT_TRUE(p->Prepare({a, "credit", pay}).ok());
  ASSERT_TRUE(p->Commit(a).ok());
  ASSERT_TRUE(p->Prepare({b, "credit", pay}).ok());
  ASSERT_TRUE(p->Abort(b).ok());
  ASSERT_TRUE(p->Execute({s, "credit", pay}).ok());
  ASSERT_TRUE(p->Compensate({s, "debit", pay}).ok());
}

class StandaloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok()) << "throw-away redis-server did not start";
    ASSERT_NO_FATAL_FAILURE(WarmScriptCache(server_.url()));
  }
  void Set(const std::string& key, const std::string& value) {
    RawReply r = Command(server_.conn(), {"SET", key, value});
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
  }
  std::string Get(const std::string& key) {
    RawReply r = Command(server_.conn(), {"GET", key});
    return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "<nil>";
  }
  long long Ttl(const std::string& key) {
    RawReply r = Command(server_.conn(), {"TTL", key});
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
  }
  static std::string Index(const participant::BranchId& id) {
    return "txc:i:" + id.coordinator + ":" + id.gid + ":" + id.branch;
  }

  // Prepare (with a deferred EXPIRE riding along), Commit, Abort, Execute, Compensate, and a
  // Prepare stopped by the abort fence: the round trips of each, the index bound where `mode`
  // says (`bind_trips` = 1 inside the script, 2 before it).
  void ExpectTrips(const std::string& mode, std::uint64_t bind_trips) {
    auto p = Participant(server_.url(), mode);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->binds_in_script(), bind_trips == 1);
    const std::string acct = "acct-" + mode;
    Set(Wallet(acct), "100");
    const participant::Payload pay = {{"account", acct}, {"amount", "10"}};
    const participant::BranchId a{"coord-t", "ga-" + mode, "b1"}, b{"coord-t", "gb-" + mode, "b1"},
        s{"coord-t", "s-" + mode, "b1"}, fenced{"coord-t", "gf-" + mode, "b1"};
    EXPECT_EQ(Trips(*p,
                    [&] {
                      auto v = p->Prepare({a, "debit", pay});
                      ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
                    }),
              bind_trips);
    EXPECT_EQ(Trips(*p, [&] { ASSERT_TRUE(p->Commit(a).ok()); }), 1u);
    EXPECT_EQ(Ttl(Index(a)), -1);  // its EXPIRE is queued
    EXPECT_EQ(Trips(*p,
                    [&] {
                      auto v = p->Prepare({b, "debit", pay});
                      ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
                    }),
              bind_trips);
    EXPECT_GT(Ttl(Index(a)), 0);  // rode in the prepare's pipeline
    EXPECT_EQ(Ttl(Index(b)), -1);
    EXPECT_EQ(Get(Index(b)), acct);
    EXPECT_EQ(Trips(*p, [&] { ASSERT_TRUE(p->Abort(b).ok()); }), 1u);
    EXPECT_EQ(Trips(*p,
                    [&] {
                      auto r = p->Execute({s, "debit", pay});
                      ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone) << r.status();
                    }),
              bind_trips);
    EXPECT_GT(Ttl(Index(b)), 0);  // rode in the execute's pipeline
    EXPECT_EQ(Trips(*p, [&] { ASSERT_TRUE(p->Compensate({s, "credit", pay}).ok()); }), bind_trips);
    EXPECT_EQ(Get(Wallet(acct)), "90");
    // The fence: Abort's SET NX GET, then one round trip either way (the script finds it, or
    // the SET NX GET does and no script runs).
    EXPECT_EQ(Trips(*p, [&] { ASSERT_TRUE(p->Abort(fenced).ok()); }), 1u);
    EXPECT_EQ(Trips(*p,
                    [&] {
                      auto v = p->Prepare({fenced, "debit", pay});
                      ASSERT_TRUE(v.ok()) << v.status();
                      EXPECT_EQ(v->vote, Vote::kNo);
                      EXPECT_EQ(v->reason, "aborted before prepare");
                    }),
              1u);
  }

  ThrowawayRedis server_{{}};
};

TEST_F(StandaloneTest, AutoBindsInTheScriptsAndEveryCallIsOneRoundTrip) {
  ExpectTrips("auto", 1);
}

TEST_F(StandaloneTest, OnBindsInTheScriptsWithoutAsking) {
  ExpectTrips("on", 1);
}

TEST_F(StandaloneTest, OffKeepsPrepareExecuteAndCompensateAtTwo) {
  ExpectTrips("off", 2);
}

TEST_F(StandaloneTest, OnlyAutoAsksTheServerForItsMode) {
  // Create asks CONFIG GET twice (durability), and INFO cluster only for "auto".
  for (const auto& [mode, trips, in_script] :
       {std::tuple{"auto", 3, true}, std::tuple{"on", 2, true}, std::tuple{"off", 2, false}}) {
    auto p = Participant(server_.url(), mode);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->round_trips(), static_cast<std::uint64_t>(trips)) << mode;
    EXPECT_EQ(p->binds_in_script(), in_script) << mode;
    EXPECT_FALSE(Mentions(p->warnings(), "cluster mode")) << mode;
  }
}

// A one-node cluster that owns every slot.
class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok()) << "throw-away cluster redis-server did not start";
    RawReply added = Command(server_.conn(), {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"});
    ASSERT_TRUE(added && added->type == REDIS_REPLY_STATUS);
    ASSERT_TRUE(::txcoord::testing::Eventually([&] {
      RawReply info = Command(server_.conn(), {"CLUSTER", "INFO"});
      return info && info->type == REDIS_REPLY_STRING &&
             std::string(info->str, info->len).find("cluster_state:ok") != std::string::npos;
    }));
    RawReply flushed = Command(server_.conn(), {"SCRIPT", "FLUSH"});  // a known state: empty
    ASSERT_TRUE(flushed && flushed->type == REDIS_REPLY_STATUS);
  }
  std::string Get(const std::string& key) {
    RawReply r = Command(server_.conn(), {"GET", key});
    return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "<nil>";
  }

  ThrowawayRedis server_{
      {"--cluster-enabled", "yes", "--cluster-port", std::to_string(ThrowawayRedis::FreePort())}};
};

TEST_F(ClusterTest, AutoKeepsTheTwoRoundTripPathAndEveryCallWorks) {
  auto p = Participant(server_.url(), "auto");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->binds_in_script());
  EXPECT_FALSE(Mentions(p->warnings(), "cluster mode")) << p->warnings().size();
  ASSERT_TRUE(Command(server_.conn(), {"SET", "wallet:{c1}", "100"}));
  const participant::Payload pay = {{"account", "c1"}, {"amount", "30"}};
  const participant::BranchId id{"coord-t", "g1", "b1"}, id2{"coord-t", "g0", "b1"};
  // SET NX GET, EVALSHA (NOSCRIPT: the cache is empty), EVAL; then SET NX GET, EVALSHA.
  EXPECT_EQ(Trips(*p,
                  [&] {
                    auto v = p->Prepare({id2, "debit", pay});
                    ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
                  }),
            3u);
  ASSERT_TRUE(p->Commit(id2).ok());
  EXPECT_EQ(Trips(*p,
                  [&] {
                    auto v = p->Prepare({id, "debit", pay});
                    ASSERT_TRUE(v.ok()) << v.status();
                    EXPECT_EQ(v->vote, Vote::kYes) << v->reason;
                  }),
            2u);
  ASSERT_TRUE(p->Commit(id).ok());
  EXPECT_EQ(Get("wallet:{c1}"), "40");
  // The abort fence, and a saga step with its compensation.
  const participant::BranchId fenced{"coord-t", "g2", "b1"};
  ASSERT_TRUE(p->Abort(fenced).ok());
  auto late = p->Prepare({fenced, "debit", pay});
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->vote, Vote::kNo);
  EXPECT_EQ(late->reason, "aborted before prepare");
  const participant::BranchId step{"coord-t", "s1", "b1"};
  auto r = p->Execute({step, "debit", pay});
  ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone) << r.status();
  ASSERT_TRUE(p->Compensate({step, "credit", pay}).ok());
  EXPECT_EQ(Get("wallet:{c1}"), "40");
  auto listed = p->InDoubt("coord-t");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty());
}

// Why the binding stays out of the scripts on a cluster: the index lives in another slot, and
// Redis refuses a script whose keys do not share one (CROSSSLOT), before running anything.
TEST_F(ClusterTest, ForcingTheIndexIntoTheScriptIsRefusedByTheCluster) {
  auto p = Participant(server_.url(), "on");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->binds_in_script());
  const participant::BranchId id{"coord-t", "g1", "b1"};
  auto v = p->Prepare({id, "credit", {{"account", "c2"}, {"amount", "1"}}});
  EXPECT_EQ(v.status().code(), Code::kInternal) << v.status();
  EXPECT_NE(v.status().message().find("CROSSSLOT"), std::string::npos) << v.status();
  EXPECT_EQ(Get("txc:i:coord-t:g1:b1"), "<nil>");
  EXPECT_EQ(Get("txc:{c2}:l:wallet:{c2}"), "<nil>");
}

TEST(ServerModeTest, AServerThatRefusesInfoGetsTwoRoundTripsAndAWarning) {
  ThrowawayRedis server({"--rename-command", "INFO", ""});
  ASSERT_TRUE(server.ok()) << "throw-away redis-server did not start";
  ASSERT_NO_FATAL_FAILURE(WarmScriptCache(server.url()));
  auto p = Participant(server.url(), "auto");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->binds_in_script());
  EXPECT_TRUE(Mentions(p->warnings(), "cannot tell whether the server runs in cluster mode"));
  EXPECT_TRUE(Mentions(p->warnings(), "2 round trips"));
  const participant::BranchId a{"coord-t", "g1", "b1"};
  EXPECT_EQ(Trips(*p,
                  [&] {
                    auto v = p->Prepare({a, "credit", {{"account", "x"}, {"amount", "1"}}});
                    ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
                  }),
            2u);
  ASSERT_TRUE(p->Commit(a).ok());
  // Told it is standalone, the participant binds in the script without asking.
  auto on = Participant(server.url(), "on");
  ASSERT_NE(on, nullptr);
  EXPECT_TRUE(on->binds_in_script());
  EXPECT_FALSE(Mentions(on->warnings(), "cluster mode"));
  const participant::BranchId b{"coord-t", "g2", "b1"};
  EXPECT_EQ(Trips(*on,
                  [&] {
                    auto v = on->Prepare({b, "credit", {{"account", "x"}, {"amount", "1"}}});
                    ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
                  }),
            1u);
  ASSERT_TRUE(on->Commit(b).ok());
  RawReply got = Command(server.conn(), {"GET", "wallet:{x}"});
  ASSERT_TRUE(got && got->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(got->str, got->len), "2");
}

TEST(ServerModeTest, AServerUnreachableAtStartIsAskedAgainOnceItAnswers) {
  const int port = ThrowawayRedis::FreePort();
  ASSERT_NE(port, 0);
  auto p = Participant("redis://127.0.0.1:" + std::to_string(port), "auto");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->binds_in_script());
  EXPECT_TRUE(Mentions(p->warnings(), "cannot ask whether the server runs in cluster mode"));
  const participant::BranchId a{"coord-t", "g1", "b1"};
  const participant::Payload pay = {{"account", "y"}, {"amount", "1"}};
  EXPECT_EQ(p->Prepare({a, "credit", pay}).status().code(), Code::kUnavailable);
  EXPECT_FALSE(p->binds_in_script());

  ThrowawayRedis server({}, port);
  ASSERT_TRUE(server.ok()) << "throw-away redis-server did not start on " << port;
  ASSERT_NO_FATAL_FAILURE(WarmScriptCache(server.url()));
  EXPECT_EQ(Trips(*p,  // INFO cluster, then the script
                  [&] {
                    auto v = p->Prepare({a, "credit", pay});
                    ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
                  }),
            2u);
  EXPECT_TRUE(p->binds_in_script());
  const participant::BranchId b{"coord-t", "g2", "b1"};
  EXPECT_EQ(Trips(*p,
                  [&] {
                    auto v = p->Prepare({b, "credit", {{"account", "z"}, {"amount", "1"}}});
                    ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
                  }),
            1u);
  ASSERT_TRUE(p->Commit(a).ok());
  ASSERT_TRUE(p->Commit(b).ok());
}

}  // namespace
}  // namespace txcoord::redis::testing
