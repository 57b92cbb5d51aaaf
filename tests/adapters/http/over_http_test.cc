// The real PostgreSQL and Redis participants served by an in-process ParticipantServer and
// driven through RemoteParticipant: the protocol must keep every adapter guarantee (votes,
// idempotency, null compensation, anti-hanging, in-doubt listing) and refuse bad calls before
// the store is touched.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stores.h"
#include "txcoord/adapters/config.h"
#include "txcoord/adapters/factory.h"
#include "txcoord/participant/remote.h"
#include "txcoord/participant/server.h"
#include "txcoord/participant/service.h"
#include "txcoord/testing/env.h"

namespace txcoord::http_testing {
namespace {

using participant::BranchCall;
using participant::BranchId;
using participant::Outcome;
using participant::Participant;
using participant::Payload;
using participant::RemoteParticipant;
using participant::Vote;

constexpr const char* kToken = "over-http-token";

class OverHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TXC_REQUIRE_ENV(dsn, "TXC_PG_DSN");
    TXC_REQUIRE_ENV(url, "TXC_REDIS_URL");
    unique_ = UniqueName();
    table_ = "h_" + unique_;
    coordinator_ = Dashed(unique_);
    alice_ = unique_ + "-alice";
    pg_ = std::make_unique<PgRaw>(dsn);
    redis_ = std::make_unique<RedisRaw>(url);
    pg_->Sql("CREATE TABLE " + table_ +
             " (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
    pg_->Sql("INSERT INTO " + table_ + " VALUES ('" + alice_ + "', 100)");
    ASSERT_EQ(redis_->Cmd({"SET", WalletKey(alice_), "100"}), "OK");

    auto service = participant::ParticipantService::Create({.token = kToken});
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *service;
    for (const std::string& json : {PgConfigJson(dsn, table_), RedisConfigJson(url)}) {
      auto obj = adapters::ParseJsonConfig(json);
      ASSERT_TRUE(obj.ok()) << obj.status();
      auto p = adapters::CreateParticipant(**obj);
      ASSERT_TRUE(p.ok()) << p.status();
      ASSERT_TRUE(service_->Add(*p).ok());
    }
    server_ = std::make_unique<participant::ParticipantServer>(
        service_, participant::ServerOptions{.port = 0});
    ASSERT_TRUE(server_->Start().ok());
    pg_remote_ = Remote("bank-pg", kToken);
    redis_remote_ = Remote("wallet-redis", kToken);
  }

  void TearDown() override {
    // Abort what a failed test left prepared, so no lock record outlives the test.
    if (redis_remote_ && server_) {
      auto left = redis_remote_->InDoubt(coordinator_);
      if (left.ok()) {
        for (const auto& b : *left) (void)redis_remote_->Abort(b.id).ok();
      }
    }
    if (server_) server_->Stop();
    if (pg_) {
      pg_->RollbackPrepared(coordinator_);
      pg_->Sql("DROP TABLE IF EXISTS " + table_);
    }
    if (redis_ && !unique_.empty()) {
      (void)redis_->Cmd({"DEL", WalletKey(alice_)});
      for (const auto& k : extra_keys_) (void)redis_->Cmd({"DEL", k});
    }
  }

  std::unique_ptr<RemoteParticipant> Remote(const std::string& name, const std::string& token) {
    auto r = RemoteParticipant::Create(
        {.name = name,
         .base_url = "http://127.0.0.1:" + std::to_string(server_->port()),
         .token = token});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // Both remotes, for tests that check the same guarantee on each store.
  std::vector<Participant*> Both() { return {pg_remote_.get(), redis_remote_.get()}; }

  BranchId Id(const std::string& gid, const std::string& branch = "b1") const {
    return {coordinator_, gid, branch};
  }
  BranchCall Call(const BranchId& id, const std::string& action, const std::string& amount) {
    return {id, action, Payload{{"account", alice_}, {"amount", amount}}};
  }
  // A further account, created by the test itself; removed from Redis in TearDown.
  std::string Account(const std::string& suffix) {
    extra_keys_.push_back(WalletKey(unique_ + "-" + suffix));
    return unique_ + "-" + suffix;
  }
  std::string PgBalance() {
    return pg_->Scalar("SELECT balance FROM " + table_ + " WHERE id = '" + alice_ + "'");
  }
  std::string RedisBalance() { return redis_->Cmd({"GET", WalletKey(alice_)}); }
  // Balance in the store behind `p`.
  std::string Balance(Participant* p) {
    return p == pg_remote_.get() ? PgBalance() : RedisBalance();
  }

  std::string unique_, table_, coordinator_, alice_;
  std::vector<std::string> extra_keys_;
  std::unique_ptr<PgRaw> pg_;
  std::unique_ptr<RedisRaw> redis_;
  std::shared_ptr<participant::ParticipantService> service_;
  std::unique_ptr<participant::ParticipantServer> server_;
  std::unique_ptr<RemoteParticipant> pg_remote_, redis_remote_;
};

TEST_F(OverHttpTest, TwoPhaseCommitAcrossBothStoresAppliesOnceEvenWhenCommitIsRepeated) {
  const BranchId pg_id = Id("t1", "pg"), redis_id = Id("t1", "redis");
  auto a = pg_remote_->Prepare(Call(pg_id, "debit", "30"));
  auto b = redis_remote_->Prepare(Call(redis_id, "debit", "30"));
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " " << b.status();
  EXPECT_EQ(a->vote, Vote::kYes) << a->reason;
  EXPECT_EQ(b->vote, Vote::kYes) << b->reason;
  EXPECT_EQ(PgBalance(), "100");  // prepared, not applied
  EXPECT_EQ(RedisBalance(), "100");
  EXPECT_EQ(pg_->Prepared(coordinator_).size(), 1u);

  ASSERT_TRUE(pg_remote_->Commit(pg_id).ok());
  ASSERT_TRUE(redis_remote_->Commit(redis_id).ok());
  EXPECT_EQ(PgBalance(), "70");
  EXPECT_EQ(RedisBalance(), "70");
  // Duplicated delivery of commit: same answer, no second effect.
  EXPECT_TRUE(pg_remote_->Commit(pg_id).ok());
  EXPECT_TRUE(redis_remote_->Commit(redis_id).ok());
  EXPECT_EQ(PgBalance(), "70");
  EXPECT_EQ(RedisBalance(), "70");
  EXPECT_TRUE(pg_->Prepared(coordinator_).empty());
}

TEST_F(OverHttpTest, FailedGuardOrRowCountVotesNoAndLeavesNothingPrepared) {
  // PostgreSQL: an account that does not exist updates 0 rows (expect_rows [1]).
  auto pg = pg_remote_->Prepare(
      {Id("t1", "pg"), "debit", Payload{{"account", unique_ + "-nobody"}, {"amount", "1"}}});
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ(pg->vote, Vote::kNo);
  EXPECT_FALSE(pg->reason.empty());
  // Redis: the guard wallet >= amount fails.
  auto redis = redis_remote_->Prepare(Call(Id("t1", "redis"), "debit", "500"));
  ASSERT_TRUE(redis.ok()) << redis.status();
  EXPECT_EQ(redis->vote, Vote::kNo);
  EXPECT_FALSE(redis->reason.empty());

  EXPECT_TRUE(pg_->Prepared(coordinator_).empty());
  EXPECT_EQ(PgBalance(), "100");
  EXPECT_EQ(RedisBalance(), "100");
  for (Participant* p : Both()) {
    auto listed = p->InDoubt(coordinator_);
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_TRUE(listed->empty()) << p->name();
  }
}

TEST_F(OverHttpTest, SagaExecuteThenCompensateAppliesEachOnce) {
  for (Participant* p : Both()) {
    SCOPED_TRACE(p->name());
    const BranchId id = Id("s1", p == pg_remote_.get() ? "pg" : "redis");
    auto done = p->Execute(Call(id, "debit", "10"));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->outcome, Outcome::kDone) << done->reason;
    auto again = p->Execute(Call(id, "debit", "10"));  // duplicated delivery
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->outcome, Outcome::kDone);
    EXPECT_EQ(Balance(p), "90");

    ASSERT_TRUE(p->Compensate(Call(id, "credit", "10")).ok());
    ASSERT_TRUE(p->Compensate(Call(id, "credit", "10")).ok());  // duplicated delivery
    EXPECT_EQ(Balance(p), "100");
  }
}

TEST_F(OverHttpTest, AbortBeforePrepareMakesTheLatePrepareVoteNo) {
  for (Participant* p : Both()) {
    SCOPED_TRACE(p->name());
    const BranchId id = Id("t1", p == pg_remote_.get() ? "pg" : "redis");
    ASSERT_TRUE(p->Abort(id).ok());
    ASSERT_TRUE(p->Abort(id).ok());  // duplicated
    auto late = p->Prepare(Call(id, "debit", "10"));
    ASSERT_TRUE(late.ok()) << late.status();
    EXPECT_EQ(late->vote, Vote::kNo);
    EXPECT_EQ(Balance(p), "100");
    auto listed = p->InDoubt(coordinator_);
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_TRUE(listed->empty());
  }
  EXPECT_TRUE(pg_->Prepared(coordinator_).empty());
}

TEST_F(OverHttpTest, CompensateBeforeExecuteIsNullAndTheLateExecuteIsRefused) {
  for (Participant* p : Both()) {
    SCOPED_TRACE(p->name());
    const BranchId id = Id("s1", p == pg_remote_.get() ? "pg" : "redis");
    ASSERT_TRUE(p->Compensate(Call(id, "credit", "10")).ok());
    EXPECT_EQ(Balance(p), "100");  // null compensation: no business effect
    auto late = p->Execute(Call(id, "debit", "10"));
    ASSERT_TRUE(late.ok()) << late.status();
    EXPECT_EQ(late->outcome, Outcome::kRefused);
    EXPECT_EQ(Balance(p), "100");
  }
}

TEST_F(OverHttpTest, InDoubtListsExactlyTheUndecidedBranches) {
  // One account per transaction: a prepared branch keeps its rows/keys locked.
  const std::vector<std::string> gids = {"t1", "t2", "t3"};
  for (const auto& gid : gids) {
    pg_->Sql("INSERT INTO " + table_ + " VALUES ('" + Account(gid) + "', 10)");
    ASSERT_EQ(redis_->Cmd({"SET", WalletKey(Account(gid)), "10"}), "OK");
  }
  for (Participant* p : Both()) {
    SCOPED_TRACE(p->name());
    for (const auto& gid : gids) {
      auto r = p->Prepare({Id(gid), "debit", Payload{{"account", Account(gid)}, {"amount", "1"}}});
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->vote, Vote::kYes) << r->reason;
    }
    ASSERT_TRUE(p->Commit(Id("t1")).ok());
    ASSERT_TRUE(p->Abort(Id("t3")).ok());
    auto listed = p->InDoubt(coordinator_);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front().id, Id("t2"));
    auto other = p->InDoubt(coordinator_ + "x");
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_TRUE(other->empty());

    ASSERT_TRUE(p->Commit(Id("t2")).ok());
    EXPECT_TRUE(p->InDoubt(coordinator_)->empty());
  }
  for (const auto& [gid, want] :
       std::vector<std::pair<std::string, std::string>>{{"t1", "9"}, {"t2", "9"}, {"t3", "10"}}) {
    EXPECT_EQ(pg_->Scalar("SELECT balance FROM " + table_ + " WHERE id = '" + Account(gid) + "'"),
              want);
    EXPECT_EQ(redis_->Cmd({"GET", WalletKey(Account(gid))}), want);
  }
}

TEST_F(OverHttpTest, UnknownActionIsRefusedAndNothingIsApplied) {
  for (Participant* p : Both()) {
    SCOPED_TRACE(p->name());
    auto prep = p->Prepare(Call(Id("t1"), "steal", "10"));
    ASSERT_FALSE(prep.ok());
    EXPECT_TRUE(prep.status().code() == Code::kNotFound ||
                prep.status().code() == Code::kInvalidArgument)
        << prep.status();
    auto exec = p->Execute(Call(Id("s1"), "steal", "10"));
    ASSERT_FALSE(exec.ok());
    EXPECT_TRUE(exec.status().code() == Code::kNotFound ||
                exec.status().code() == Code::kInvalidArgument)
        << exec.status();
    EXPECT_EQ(Balance(p), "100");
    EXPECT_TRUE(p->InDoubt(coordinator_)->empty());
  }
  EXPECT_TRUE(pg_->Prepared(coordinator_).empty());
}

TEST_F(OverHttpTest, WrongTokenIsUnauthenticatedAndNothingIsApplied) {
  for (const char* name : {"bank-pg", "wallet-redis"}) {
    SCOPED_TRACE(name);
    auto bad = Remote(name, "not-the-token");
    ASSERT_NE(bad, nullptr);
    EXPECT_EQ(bad->Prepare(Call(Id("t1"), "debit", "10")).status().code(), Code::kUnauthenticated);
    EXPECT_EQ(bad->Execute(Call(Id("s1"), "debit", "10")).status().code(), Code::kUnauthenticated);
    EXPECT_EQ(bad->Compensate(Call(Id("s2"), "credit", "10")).code(), Code::kUnauthenticated);
    EXPECT_EQ(bad->Abort(Id("t2")).code(), Code::kUnauthenticated);
    EXPECT_EQ(bad->InDoubt(coordinator_).status().code(), Code::kUnauthenticated);
  }
  EXPECT_EQ(PgBalance(), "100");
  EXPECT_EQ(RedisBalance(), "100");
  EXPECT_TRUE(pg_->Prepared(coordinator_).empty());
  // No barrier was written either: the late "real" calls behave as first deliveries.
  for (Participant* p : Both()) {
    SCOPED_TRACE(p->name());
    EXPECT_TRUE(p->InDoubt(coordinator_)->empty());
    auto exec = p->Execute(Call(Id("s2"), "debit", "5"));  // s2 was "compensated" above
    ASSERT_TRUE(exec.ok()) << exec.status();
    EXPECT_EQ(exec->outcome, Outcome::kDone) << exec->reason;
    auto prep = p->Prepare(Call(Id("t2"), "debit", "10"));  // t2 was "aborted" above
    ASSERT_TRUE(prep.ok()) << prep.status();
    EXPECT_EQ(prep->vote, Vote::kYes) << prep->reason;
    ASSERT_TRUE(p->Abort(Id("t2")).ok());
    EXPECT_EQ(Balance(p), "95");
  }
}

}  // namespace
}  // namespace txcoord::http_testing
