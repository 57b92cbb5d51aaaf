// Saga steps through the Redis participant: execute once, compensate once, null compensation,
// anti-hanging, and the interplay with prepared 2PC locks.
#include <thread>

#include "redis_fixture.h"

namespace txcoord::redis::testing {
namespace {

using participant::Outcome;
using participant::Vote;

class SagaTest : public RedisTest {};

TEST_F(SagaTest, ExecuteOnceCompensateOnce) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("s"));
  const participant::Payload pay = {{"account", acct}, {"amount", "25"}};
  for (int i = 0; i < 2; ++i) {
    auto r = p_->Execute(Call(id, "debit", pay));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->outcome, Outcome::kDone) << r->reason;
  }
  EXPECT_EQ(Get(Wallet(acct)), "75");
  ASSERT_TRUE(p_->Compensate(Call(id, "credit", pay)).ok());
  ASSERT_TRUE(p_->Compensate(Call(id, "credit", pay)).ok());
  EXPECT_EQ(Get(Wallet(acct)), "100");
  auto late = p_->Execute(Call(id, "debit", pay));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->outcome, Outcome::kRefused);
  EXPECT_EQ(Get(Wallet(acct)), "100");
}

TEST_F(SagaTest, CompensateBeforeExecuteIsNullAndFencesTheLateExecute) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("s"));
  const participant::Payload pay = {{"account", acct}, {"amount", "25"}};
  ASSERT_TRUE(p_->Compensate(Call(id, "credit", pay)).ok());
  EXPECT_EQ(Get(Wallet(acct)), "100");  // no business effect
  ASSERT_TRUE(p_->Compensate(Call(id, "credit", pay)).ok());
  auto late = p_->Execute(Call(id, "debit", pay));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->outcome, Outcome::kRefused);
  EXPECT_NE(late->reason.find("fenced"), std::string::npos) << late->reason;
  EXPECT_EQ(Get(Wallet(acct)), "100");
}

TEST_F(SagaTest, RefusedExecuteAnswersTheSameAndCompensatesToNothing) {
  const std::string acct = Unique();
  Set(Wallet(acct), "10");
  const auto id = Branch(Unique("s"));
  const participant::Payload pay = {{"account", acct}, {"amount", "25"}};
  auto r = p_->Execute(Call(id, "debit", pay));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kRefused);
  Set(Wallet(acct), "1000");  // even if the guard would pass now: same answer
  auto dup = p_->Execute(Call(id, "debit", pay));
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->outcome, Outcome::kRefused);
  ASSERT_TRUE(p_->Compensate(Call(id, "credit", pay)).ok());
  EXPECT_EQ(Get(Wallet(acct)), "1000");
}

TEST_F(SagaTest, ExecuteOnAKeyLockedByAPreparedBranchIsRetryable) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto twopc = Branch(Unique("g"));
  auto v = p_->Prepare(Call(twopc, "debit", {{"account", acct}, {"amount", "10"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes);
  const auto step = Branch(Unique("s"));
  const participant::Payload pay = {{"account", acct}, {"amount", "5"}};
  auto r = p_->Execute(Call(step, "credit", pay));
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status();
  EXPECT_EQ(p_->Compensate(Call(step, "debit", pay)).code(), Code::kOk);  // null: never ran
  ASSERT_TRUE(p_->Commit(twopc).ok());
  const auto step2 = Branch(Unique("s"));
  auto r2 = p_->Execute(Call(step2, "credit", pay));
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->outcome, Outcome::kDone);
  EXPECT_EQ(Get(Wallet(acct)), "95");
}

TEST_F(SagaTest, ExecuteWaitsForALockWithinLockWait) {
  auto waiting = Make(/*lock_wait_ms=*/5000);
  ASSERT_NE(waiting, nullptr);
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto twopc = Branch(Unique("g"));
  auto v = p_->Prepare(Call(twopc, "debit", {{"account", acct}, {"amount", "10"}}));
  ASSERT_TRUE(v.ok() && v->vote == Vote::kYes);
  Result<participant::ExecuteResult> r = Internal("not run");
  std::thread t([&] {
    r = waiting->Execute(Call(Branch(Unique("s")), "credit", {{"account", acct}, {"amount", "5"}}));
  });
  ASSERT_TRUE(p_->Commit(twopc).ok());
  t.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, Outcome::kDone);
  EXPECT_EQ(Get(Wallet(acct)), "95");
}

TEST_F(SagaTest, CompensationWhoseGuardFailsWritesNothingAndCanBeRetried) {
  const std::string acct = Unique();
  Set(Wallet(acct), "0");
  const auto id = Branch(Unique("s"));
  const participant::Payload pay = {{"account", acct}, {"amount", "5"}};
  auto r = p_->Execute(Call(id, "credit", pay));
  ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone);
  Set(Wallet(acct), "2");  // spent meanwhile: the undo (a guarded debit) cannot apply
  const Status s = p_->Compensate(Call(id, "debit", pay));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s;
  EXPECT_EQ(Get(Wallet(acct)), "2");
  Set(Wallet(acct), "7");  // a person tops up; the saga retries the compensation
  ASSERT_TRUE(p_->Compensate(Call(id, "debit", pay)).ok());
  ASSERT_TRUE(p_->Compensate(Call(id, "debit", pay)).ok());
  EXPECT_EQ(Get(Wallet(acct)), "2");
}

TEST_F(SagaTest, CompensationWithAnotherHashTagIsRejected) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("s"));
  auto r = p_->Execute(Call(id, "debit", {{"account", acct}, {"amount", "1"}}));
  ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone);
  EXPECT_EQ(p_->Compensate(Call(id, "credit", {{"account", Unique()}, {"amount", "1"}})).code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(p_->Compensate(Call(id, "credit", {{"account", acct}, {"amount", "1"}})).ok());
  EXPECT_EQ(Get(Wallet(acct)), "100");
}

TEST_F(SagaTest, TwoPcAndSagaCallsOnOneBranchConflict) {
  const std::string acct = Unique();
  Set(Wallet(acct), "100");
  const auto id = Branch(Unique("s"));
  const participant::Payload pay = {{"account", acct}, {"amount", "1"}};
  auto r = p_->Execute(Call(id, "debit", pay));
  ASSERT_TRUE(r.ok() && r->outcome == Outcome::kDone);
  EXPECT_EQ(p_->Prepare(Call(id, "debit", pay)).status().code(), Code::kConflict);
  EXPECT_EQ(p_->Commit(id).code(), Code::kConflict);
  const auto aborted = Branch(Unique("g"));
  ASSERT_TRUE(p_->Abort(aborted).ok());
  EXPECT_EQ(p_->Execute(Call(aborted, "debit", pay)).status().code(), Code::kConflict);
}

}  // namespace
}  // namespace txcoord::redis::testing
