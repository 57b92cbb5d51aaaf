// The branch index (txc:i:...): bound inside the prepare/execute/compensate scripts on a
// standalone server (one round trip), or with a SET NX GET before them (two; index_in_script
// "off", the cluster path). Both give the same answers and leave the same records (ctest runs
// this binary in both modes). Round trips are counted in server_mode_test, on servers of its
// own: here another test's SCRIPT FLUSH may add an EVAL at any time.
#include <thread>

#include "redis_fixture.h"
#include "txcoord/testing/poll.h"

namespace txcoord::redis::testing {
namespace {

using participant::Outcome;
using participant::Vote;

class IndexTest : public RedisTest {
 protected:
  static std::string Index(const participant::BranchId& id) {
    return "txc:i:" + id.coordinator + ":" + id.gid + ":" + id.branch;
  }
  static std::string Barrier(const std::string& tag, const participant::BranchId& id) {
    return "txc:{" + tag + "}:b:" + id.coordinator + ":" + id.gid + ":" + id.branch;
  }
};

TEST_F(IndexTest, TheParticipantsBindWhereTheModeSays) {
  EXPECT_EQ(p_->binds_in_script(), IndexModeFromEnv() != "off");  // the test server is standalone
}

// Abort of a branch never seen writes the fence; the late Prepare votes no without writing
// anything, Execute and Compensate are conflicts.
TEST_F(IndexTest, TheAbortFenceStopsEveryLateCall) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const participant::Payload pay = {{"account", acct}, {"amount", "10"}};
  const auto id = Branch(Unique("g"));
  ASSERT_TRUE(p_->Abort(id).ok());
  EXPECT_EQ(Get(Index(id)), "!aborted");
  auto v = p_->Prepare(Call(id, "debit", pay));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->vote, Vote::kNo);
  EXPECT_EQ(v->reason, "aborted before prepare");
  const auto ex = p_->Execute(Call(id, "debit", pay));
  EXPECT_EQ(ex.status().code(), Code::kConflict) << ex.status();
  EXPECT_NE(ex.status().message().find("is an aborted 2PC branch"), std::string::npos);
  const Status comp = p_->Compensate(Call(id, "credit", pay));
  EXPECT_EQ(comp.code(), Code::kConflict) << comp;
  EXPECT_EQ(Int({"EXISTS", Barrier(acct, id)}), 0);
  EXPECT_EQ(Get("txc:{" + acct + "}:l:" + Wallet(acct)), "<nil>");
  EXPECT_EQ(Get(Index(id)), "!aborted");
  EXPECT_EQ(Get(Wallet(acct)), "100");
  EXPECT_EQ(p_->Commit(id).code(), Code::kConflict);
}

// A branch bound to one tag refuses a call with another, and writes nothing under it.
TEST_F(IndexTest, ACallWithAnotherTagGetsTheSameAnswersAsBefore) {
  const std::string first = Unique("a"), second = Unique("b");
  Set(Wallet(first), "100");
  Set(Wallet(second), "100");
  const auto id = Branch(Unique("g"));
  auto v = p_->Prepare(Call(id, "debit", {{"account", first}, {"amount", "10"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes) << v.status();
  auto other = p_->Prepare(Call(id, "debit", {{"account", second}, {"amount", "10"}}));
  ASSERT_EQ(other.status().code(), Code::kConflict) << other.status();
  EXPECT_EQ(other.status().message(), participant::ToString(id) +
                                          " is bound to keys of hash tag {" + first +
                                          "}, this call has {" + second + "}");
  EXPECT_EQ(Int({"EXISTS", Barrier(second, id)}), 0);
  EXPECT_EQ(Get("txc:{" + second + "}:l:" + Wallet(second)), "<nil>");
  EXPECT_EQ(Get(Index(id)), first);
  ASSERT_TRUE(p_->Commit(id).ok());
  EXPECT_EQ(Get(Wallet(first)), "90");
  EXPECT_EQ(Get(Wallet(second)), "100");

  // Saga: compensated first (null) under one tag, a late execute with another is refused.
  const auto s = Branch(Unique("s"));
  ASSERT_TRUE(p_->Compensate(Call(s, "credit", {{"account", first}, {"amount", "1"}})).ok());
  auto late = p_->Execute(Call(s, "debit", {{"account", second}, {"amount", "1"}}));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->outcome, Outcome::kRefused);
  EXPECT_EQ(late->reason, "branch already bound to hash tag {" + first + "}");
  EXPECT_EQ(Int({"EXISTS", Barrier(second, s)}), 0);
  EXPECT_EQ(Get(Wallet(second)), "100");
}

// A Prepare waiting for a lock has bound its index at its first attempt (as the SET NX GET does
// on the cluster path): an Abort meanwhile goes through the abort script, records the aborted
// barrier, and the next attempt votes no without staging anything.
TEST_F(IndexTest, AbortWhileAPrepareWaitsForALockMakesItVoteNo) {
  auto w = StartLockWait(/*lock_wait_ms=*/10000);
  ASSERT_NE(w, nullptr);
  const bool bound = txcoord::testing::Eventually([&] { return Get(Index(w->b)) == w->acct; });
  const Status aborted = p_->Abort(w->b);
  w->thread.join();
  ASSERT_TRUE(bound) << "the waiting prepare never bound its index";
  ASSERT_TRUE(aborted.ok()) << aborted;
  ASSERT_TRUE(w->vote.ok()) << w->vote.status();
  EXPECT_EQ(w->vote->vote, Vote::kNo);
  EXPECT_EQ(w->vote->reason, "aborted before prepare");
  EXPECT_EQ(Get("txc:{" + w->acct + "}:l:" + Wallet(w->acct)), participant::PreparedName(w->a));
  ASSERT_TRUE(p_->Commit(w->a).ok());
  EXPECT_EQ(p_->Commit(w->b).code(), Code::kConflict);
  EXPECT_EQ(Get(Wallet(w->acct)), "40");
}

// The new script texts are reloaded with EVAL after SCRIPT FLUSH, for every call that binds.
TEST_F(IndexTest, ScriptCacheFlushFallsBackToEvalForExecuteAndCompensate) {
  const std::string acct = Unique();
  Set(Wallet(acct), "5");
  const participant::Payload pay = {{"account", acct}, {"amount", "2"}};
  const auto s = Branch(Unique("s"));
  RawReply flushed = Cmd({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(flushed && flushed->type == REDIS_REPLY_STATUS);
  auto r = p_->Execute(Call(s, "debit", pay));
  ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone) << r.status();
  flushed = Cmd({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(p_->Compensate(Call(s, "credit", pay)).ok());
  EXPECT_EQ(Get(Wallet(acct)), "5");
  EXPECT_EQ(Get(Index(s)), acct);
}

}  // namespace
}  // namespace txcoord::redis::testing
