// Saga calls against the real PostgreSQL: execute/compensate, refusals, duplicated and
// reordered delivery (null compensation, anti-hanging).
#include "pg_fixture.h"
#include "txcoord/core/fault.h"

namespace txcoord::postgres::testing {
namespace {

using participant::Outcome;

TEST_F(PgTest, ExecuteThenCompensateRestores) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r = p->Execute(Call("s1", "debit", {{"account", "alice"}, {"amount", "30"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, Outcome::kDone) << r->reason;
  EXPECT_EQ(Balance("alice"), "70");  // committed locally at once
  ASSERT_TRUE(p->Compensate(Call("s1", "credit", {{"account", "alice"}, {"amount", "30"}})).ok());
  EXPECT_EQ(Balance("alice"), "100");
}

TEST_F(PgTest, ExecuteTwiceAppliesOnceAndAnswersTheSame) {
  auto p = Make();
  ASSERT_TRUE(p);
  const auto call = Call("s1", "debit", {{"account", "alice"}, {"amount", "30"}});
  for (int i = 0; i < 3; ++i) {
    auto r = p->Execute(call);
    ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone) << r.status();
  }
  EXPECT_EQ(Balance("alice"), "70");
}

TEST_F(PgTest, CompensateTwiceUndoesOnce) {
  auto p = Make();
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Execute(Call("s1", "debit", {{"account", "alice"}, {"amount", "30"}})).ok());
  const auto comp = Call("s1", "credit", {{"account", "alice"}, {"amount", "30"}});
  ASSERT_TRUE(p->Compensate(comp).ok());
  ASSERT_TRUE(p->Compensate(comp).ok());
  EXPECT_EQ(Balance("alice"), "100");
  auto late = p->Execute(Call("s1", "debit", {{"account", "alice"}, {"amount", "30"}}));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->outcome, Outcome::kDone);  // the same answer as the first delivery
  EXPECT_EQ(Balance("alice"), "100");
}

TEST_F(PgTest, CompensateBeforeExecuteIsNullAndRefusesTheLateExecute) {
  auto p = Make();
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Compensate(Call("s1", "credit", {{"account", "alice"}, {"amount", "30"}})).ok());
  EXPECT_EQ(Balance("alice"), "100");  // no business effect
  auto late = p->Execute(Call("s1", "debit", {{"account", "alice"}, {"amount", "30"}}));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->outcome, Outcome::kRefused);
  EXPECT_NE(late->reason.find("already compensated"), std::string::npos) << late->reason;
  EXPECT_EQ(Balance("alice"), "100");
  ASSERT_TRUE(p->Compensate(Call("s1", "credit", {{"account", "alice"}, {"amount", "30"}})).ok());
  EXPECT_EQ(Balance("alice"), "100");
}

TEST_F(PgTest, RefusedExecuteIsRecordedAnsweredAgainAndNeedsNoCompensation) {
  auto p = Make();
  ASSERT_TRUE(p);
  const auto call = Call("s1", "debit", {{"account", "alice"}, {"amount", "500"}});
  auto r = p->Execute(call);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, Outcome::kRefused);
  EXPECT_NE(r->reason.find("23514"), std::string::npos) << r->reason;
  // The data changes so that a re-run would succeed: the retried call still gets the refusal.
  Sql("UPDATE " + table_ + " SET balance = 1000 WHERE id = 'alice'");
  auto again = p->Execute(call);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, Outcome::kRefused);
  EXPECT_EQ(again->reason, r->reason);
  ASSERT_TRUE(p->Compensate(Call("s1", "credit", {{"account", "alice"}, {"amount", "500"}})).ok());
  EXPECT_EQ(Balance("alice"), "1000");  // nothing to undo, nothing undone
}

TEST_F(PgTest, WrongRowCountRefusesExecute) {
  auto p = Make();
  ASSERT_TRUE(p);
  auto r =
      p->Execute(Call("s1", "transfer", {{"from", "alice"}, {"to", "carol"}, {"amount", "5"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, Outcome::kRefused);
  EXPECT_NE(r->reason.find("statement 2"), std::string::npos) << r->reason;
  EXPECT_EQ(Balance("alice"), "100");  // statement 1 rolled back with statement 2
}

TEST_F(PgTest, FailedCompensationIsAnErrorAndIsRetriedLater) {
  auto p = Make();
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Execute(Call("s1", "credit", {{"account", "bob"}, {"amount", "10"}})).ok());
  Sql("UPDATE " + table_ + " SET balance = 0 WHERE id = 'bob'");  // spent meanwhile
  const auto comp = Call("s1", "debit", {{"account", "bob"}, {"amount", "10"}});
  Status s = p->Compensate(comp);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s;
  EXPECT_EQ(Balance("bob"), "0");
  Sql("UPDATE " + table_ + " SET balance = 10 WHERE id = 'bob'");
  EXPECT_TRUE(p->Compensate(comp).ok());
  EXPECT_EQ(Balance("bob"), "0");
}

TEST_F(PgTest, CrashBeforeLocalCommitLeavesNothingAndTheRetryApplies) {
  auto p = Make();
  ASSERT_TRUE(p);
  const auto call = Call("s1", "debit", {{"account", "alice"}, {"amount", "30"}});
  {
    fault::ScopedFault f("pg.saga.before_commit", fault::Spec::Error(Code::kUnavailable));
    EXPECT_EQ(p->Execute(call).status().code(), Code::kUnavailable);
  }
  EXPECT_EQ(Balance("alice"), "100");
  EXPECT_EQ(BarrierRows(), 0);
  auto r = p->Execute(call);
  ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone);
  EXPECT_EQ(Balance("alice"), "70");
}

TEST_F(PgTest, BarrierIdsDoNotDependOnCallOrder) {
  // Two branches of one gid, delivered in either order, each keyed by its own branch id.
  auto p = Make();
  ASSERT_TRUE(p);
  auto b2 = p->Execute(Call("s1", "credit", {{"account", "bob"}, {"amount", "1"}}, "b2"));
  auto b1 = p->Execute(Call("s1", "debit", {{"account", "alice"}, {"amount", "1"}}, "b1"));
  ASSERT_TRUE(b1.ok() && b2.ok());
  ASSERT_TRUE(
      p->Compensate(Call("s1", "credit", {{"account", "alice"}, {"amount", "1"}}, "b1")).ok());
  EXPECT_EQ(Balance("alice"), "100");
  EXPECT_EQ(Balance("bob"), "51");  // b2 untouched by b1's compensation
}

}  // namespace
}  // namespace txcoord::postgres::testing
