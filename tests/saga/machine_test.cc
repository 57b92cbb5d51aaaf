// The saga machine, row by row of its transition table (machine.h), plus the rejected
// transitions, stale input and durable-before-visible.
#include "txcoord/saga/machine.h"

#include <gtest/gtest.h>

#include "machine_test_util.h"

namespace txcoord::saga {
namespace {

using namespace txcoord::saga::testing;  // NOLINT(google-build-using-namespace)
using F = StepPhase;
using E = StepEvent;

TEST(SagaMachineTest, StartAppendsAForcedBeginAndShowsNothingUntilItIsDurable) {
  Driver d;
  Effects e = d.Do(Start{"g1", Steps(2), std::chrono::milliseconds(1000), 7});
  ASSERT_EQ(e.effects.size(), 1u);
  AppendRecord a = One<AppendRecord>(e);
  EXPECT_TRUE(a.forced);
  EXPECT_TRUE(std::holds_alternative<BeginRecord>(a.record));
  EXPECT_EQ(d.m.state(), MachineState::kBeginning);

  e = d.Do(RecordDurable{a.seq});
  Answer ans = One<Answer>(e);
  EXPECT_EQ(ans.waiter, 7u);
  EXPECT_TRUE(ans.status.ok());
  EXPECT_EQ(ans.view.state, SagaState::kRunning);
  EXPECT_EQ(One<Publish>(e).view.state, SagaState::kRunning);
  // Step 0 starts: lazy STARTED before its call, deadline armed.
  std::vector<AppendRecord> recs = All<AppendRecord>(e);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(IsStep(recs[0], 0, F::kForward, E::kStarted));
  EXPECT_FALSE(recs[0].forced);
  EXPECT_EQ(One<ArmTimer>(e).kind, TimerKind::kStepDeadline);
  EXPECT_EQ(One<ArmTimer>(e).after, std::chrono::milliseconds(1000));
  EXPECT_EQ(One<CallExecute>(e).step, 0u);
}

TEST(SagaMachineTest, DoneStepsRunInOrderThenAForcedEndCommits) {
  Driver d;
  Effects e = d.Begin(Steps(2));
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true});
  EXPECT_TRUE(IsStep(All<AppendRecord>(e)[0], 0, F::kForward, E::kDone));
  EXPECT_EQ(All<CancelTimer>(e).size(), 1u);  // step 0's deadline
  EXPECT_EQ(One<CallExecute>(e).step, 1u);
  e = d.Do(ExecuteReply{1, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true});
  AppendRecord end = All<AppendRecord>(e).back();
  ASSERT_TRUE(std::holds_alternative<EndRecord>(end.record));
  EXPECT_TRUE(end.forced);
  EXPECT_EQ(std::get<EndRecord>(end.record).final_state, FinalState::kCommitted);
  for (const Publish& p : All<Publish>(e)) EXPECT_EQ(p.view.state, SagaState::kRunning);
  EXPECT_EQ(d.m.state(), MachineState::kEnding);
  e = d.Do(RecordDurable{end.seq});
  EXPECT_EQ(One<Publish>(e).view.state, SagaState::kCommitted);
  EXPECT_EQ(d.m.state(), MachineState::kFinished);
}

TEST(SagaMachineTest, RefusalTurnsBackOnlyAfterTheDecisionIsDurable) {
  Driver d;
  Effects e = d.Begin(Steps(3));
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true});
  e = d.Do(ExecuteReply{1, ExecuteOutcome::kRefused, One<CallExecute>(e).call, "no", true});
  std::vector<AppendRecord> recs = All<AppendRecord>(e);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_TRUE(IsStep(recs[0], 1, F::kForward, E::kRefused));
  ASSERT_TRUE(std::holds_alternative<DecisionRecord>(recs[1].record));
  EXPECT_TRUE(recs[1].forced);
  EXPECT_TRUE(All<CallCompensate>(e).empty());
  EXPECT_EQ(d.m.state(), MachineState::kTurningBack);
  EXPECT_EQ(d.m.View().state, SagaState::kRunning);  // not compensating before durable

  e = d.Do(RecordDurable{recs[1].seq});
  EXPECT_EQ(One<CallCompensate>(e).step, 0u);  // step 1 refused: nothing to undo
  EXPECT_TRUE(IsStep(All<AppendRecord>(e)[0], 0, F::kCompensate, E::kStarted));
  EXPECT_EQ(One<Publish>(e).view.state, SagaState::kCompensating);
  EXPECT_EQ(One<Publish>(e).view.reason, "step s1.x refused: refused: no");
  e = d.Do(CompensateReply{0, CompensateOutcome::kOk, One<CallCompensate>(e).call, ""});
  AppendRecord end = All<AppendRecord>(e).back();
  ASSERT_TRUE(std::holds_alternative<EndRecord>(end.record));
  EXPECT_EQ(std::get<EndRecord>(end.record).final_state, FinalState::kCompensated);
  e = d.Do(RecordDurable{end.seq});
  EXPECT_EQ(One<Publish>(e).view.state, SagaState::kCompensated);
}

TEST(SagaMachineTest, InFlightExecutesOfTheGroupFinishBeforeAnyCompensation) {
  std::vector<StepSpec> steps = Steps(3);
  steps[1].group = 0;  // steps 0 and 1 run together
  Driver d;
  Effects e = d.Begin(steps);
  std::vector<CallExecute> calls = All<CallExecute>(e);
  ASSERT_EQ(calls.size(), 2u);
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kRefused, calls[0].call, "no", true});
  const std::uint64_t decision = All<AppendRecord>(e).back().seq;
  // kTurningBack: step 1 answers; nothing is compensated before the decision is durable.
  e = d.Do(ExecuteReply{1, ExecuteOutcome::kError, calls[1].call, "busy", true});
  e = d.Do(TimerFired{One<ArmTimer>(e).id});
  const std::uint64_t retry_call = One<CallExecute>(e).call;
  e = d.Do(RecordDurable{decision});
  EXPECT_TRUE(All<CallCompensate>(e).empty());  // kCompensating waits for step 1
  EXPECT_EQ(d.m.View().state, SagaState::kCompensating);
  e = d.Do(ExecuteReply{1, ExecuteOutcome::kDone, retry_call, "", true});
  EXPECT_TRUE(IsStep(All<AppendRecord>(e)[0], 1, F::kForward, E::kDone));
  EXPECT_EQ(One<CallCompensate>(e).step, 1u);
}

TEST(SagaMachineTest, RepliesAndTimersAfterTheEndAreStale) {
  Driver d;
  Effects e = d.Begin(Steps(1));
  const ExecuteReply done{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true};
  e = d.Do(done);
  EXPECT_EQ(d.m.state(), MachineState::kEnding);
  EXPECT_FALSE(d.Do(done).ignored.empty());
  d.Do(RecordDurable{All<AppendRecord>(e).back().seq});
  EXPECT_EQ(d.m.state(), MachineState::kFinished);
  EXPECT_FALSE(d.Do(done).ignored.empty());
  EXPECT_FALSE(d.Do(RecordDurable{2}).ignored.empty());  // a lazy record
}

TEST(SagaMachineTest, TransientErrorsRetryUntilTheAttemptsAreSpentThenCompensate) {
  Driver d(MachineConfig{3, 10});
  Effects e = d.Begin(Steps(1));
  for (std::uint32_t attempt = 1; attempt <= 2; ++attempt) {
    e = d.Do(ExecuteReply{0, attempt == 1 ? ExecuteOutcome::kError : ExecuteOutcome::kUnknown,
                          One<CallExecute>(e).call, "busy", true});
    ArmTimer t = One<ArmTimer>(e);
    EXPECT_EQ(t.kind, TimerKind::kRetryExecute);
    EXPECT_EQ(t.attempt, attempt);
    e = d.Do(TimerFired{t.id});
  }
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kError, One<CallExecute>(e).call, "busy", true});
  EXPECT_TRUE(IsStep(All<AppendRecord>(e)[0], 0, F::kForward, E::kFailed));
  EXPECT_EQ(d.m.state(), MachineState::kTurningBack);
  e = d.Do(RecordDurable{All<AppendRecord>(e).back().seq});
  EXPECT_EQ(One<CallCompensate>(e).step, 0u);  // possibly done: compensated
}

TEST(SagaMachineTest, ANonRetryableErrorGivesTheStepUpAtOnce) {
  Driver d;
  Effects e = d.Begin(Steps(2));
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kError, One<CallExecute>(e).call, "bad", false});
  EXPECT_TRUE(IsStep(All<AppendRecord>(e)[0], 0, F::kForward, E::kFailed));
  EXPECT_TRUE(All<ArmTimer>(e).empty());
}

TEST(SagaMachineTest, TheDeadlineGivesUpAWaitingStepOrTheNextErrorOfACallInFlight) {
  Driver d;
  Effects e = d.Begin(Steps(2));
  const std::uint64_t deadline = One<ArmTimer>(e).id;
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kUnknown, One<CallExecute>(e).call, "?", true});
  const std::uint64_t retry = One<ArmTimer>(e).id;
  e = d.Do(TimerFired{deadline});
  EXPECT_TRUE(IsStep(All<AppendRecord>(e)[0], 0, F::kForward, E::kFailed));
  EXPECT_EQ(One<CancelTimer>(e).id, retry);
  EXPECT_EQ(d.Do(TimerFired{retry}).ignored, "stale timer " + std::to_string(retry));

  Driver d2;
  e = d2.Begin(Steps(2));
  const std::uint64_t call = One<CallExecute>(e).call;
  EXPECT_TRUE(d2.Do(TimerFired{One<ArmTimer>(e).id}).effects.empty());  // call in flight
  e = d2.Do(ExecuteReply{0, ExecuteOutcome::kError, call, "busy", true});
  EXPECT_TRUE(IsStep(All<AppendRecord>(e)[0], 0, F::kForward, E::kFailed));
}

TEST(SagaMachineTest, CompensationsRetryForeverAndFlagStuckUntilTheySucceed) {
  Driver d(MachineConfig{5, 2});
  Effects e = d.Begin(Steps(2));
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true});
  e = d.Do(ExecuteReply{1, ExecuteOutcome::kRefused, One<CallExecute>(e).call, "no", true});
  e = d.Do(RecordDurable{All<AppendRecord>(e).back().seq});
  for (int i = 0; i < 3; ++i) {
    e = d.Do(CompensateReply{0, CompensateOutcome::kRetryable, One<CallCompensate>(e).call, "x"});
    EXPECT_EQ(One<ArmTimer>(e).kind, TimerKind::kRetryCompensate);
    EXPECT_EQ(d.m.View().stuck, i >= 1);
    e = d.Do(TimerFired{One<ArmTimer>(e).id});
  }
  EXPECT_NE(d.m.View().reason.find("stuck: compensation of step s0.x"), std::string::npos);
  e = d.Do(CompensateReply{0, CompensateOutcome::kOk, One<CallCompensate>(e).call, ""});
  EXPECT_FALSE(d.m.View().stuck);
  EXPECT_TRUE(std::holds_alternative<EndRecord>(All<AppendRecord>(e).back().record));
}

TEST(SagaMachineTest, AStepWithoutCompensationIsCalledOnlyOnceItsStartedIsDurable) {
  Driver d;
  Effects e = d.Begin(Steps(2, /*last_without=*/true));
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true});
  AppendRecord started = All<AppendRecord>(e).back();
  EXPECT_TRUE(IsStep(started, 1, F::kForward, E::kStarted));
  EXPECT_TRUE(started.forced);
  EXPECT_TRUE(All<CallExecute>(e).empty());
  e = d.Do(RecordDurable{started.seq});
  EXPECT_EQ(One<CallExecute>(e).step, 1u);
}

TEST(SagaMachineTest, AFailedStepWithoutCompensationLeavesTheSagaStuck) {
  Driver d;
  Effects e = d.Begin(Steps(2, true));
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true});
  e = d.Do(RecordDurable{All<AppendRecord>(e).back().seq});
  e = d.Do(ExecuteReply{1, ExecuteOutcome::kError, One<CallExecute>(e).call, "bad", false});
  e = d.Do(RecordDurable{All<AppendRecord>(e).back().seq});  // the decision
  EXPECT_TRUE(All<CallCompensate>(e).empty());
  SagaView v = d.m.View();
  EXPECT_TRUE(v.stuck);
  EXPECT_EQ(v.state, SagaState::kCompensating);
  EXPECT_NE(v.reason.find("has no compensation"), std::string::npos);
}

TEST(SagaMachineTest, OperatorRetryCallsWaitingStepsNowAndIsRejectedOnceFinal) {
  Driver d;
  Effects e = d.Begin(Steps(1));
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kError, One<CallExecute>(e).call, "busy", true});
  const std::uint64_t retry = One<ArmTimer>(e).id;
  e = d.Do(OperatorRetry{});
  EXPECT_EQ(One<CancelTimer>(e).id, retry);
  e = d.Do(ExecuteReply{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true});
  d.Do(RecordDurable{All<AppendRecord>(e).back().seq});
  Result<Effects> r = d.m.Apply(OperatorRetry{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
}

TEST(SagaMachineTest, ALogFailureHaltsTheMachineAndFailsTheWaiterOfAnUndurableBegin) {
  Driver d;
  Effects e = d.Do(Start{"g1", Steps(1), std::chrono::milliseconds(10), 9});
  e = d.Do(RecordFailed{One<AppendRecord>(e).seq, "fsync"});
  EXPECT_FALSE(One<Answer>(e).status.ok());
  EXPECT_EQ(d.m.state(), MachineState::kHalted);
  EXPECT_FALSE(d.Do(TimerFired{1}).ignored.empty());
  EXPECT_FALSE(d.m.Apply(OperatorRetry{}).ok());
}

TEST(SagaMachineTest, DuplicateAndLateRepliesAreIgnoredExplicitly) {
  Driver d;
  Effects e = d.Begin(Steps(2));
  const ExecuteReply done{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true};
  d.Do(done);
  Effects dup = d.Do(done);
  EXPECT_TRUE(dup.effects.empty());
  EXPECT_NE(dup.ignored.find("stale Execute reply"), std::string::npos);
}

TEST(SagaMachineTest, ImpossibleTransitionsAreRejectedAndChangeNothing) {
  Driver d;
  auto rejected = [&](const Event& ev, std::string_view want) {
    const MachineState before = d.m.state();
    const SagaView view = d.m.View();
    Result<Effects> r = d.m.Apply(ev);
    ASSERT_FALSE(r.ok()) << EventName(ev);
    EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status().ToString();
    EXPECT_EQ(d.m.state(), before);
    EXPECT_EQ(d.m.View(), view);
  };
  rejected(RecordDurable{1}, "no transition for RecordDurable in state idle");
  rejected(Recovered{}, "no transition for Recovered in state idle");
  rejected(Replayed{EndRecord{}}, "replay must start with BEGIN");
  Effects e = d.Begin(Steps(2));
  const std::uint64_t call = One<CallExecute>(e).call;
  rejected(Start{"g1", Steps(1), {}, 0}, "no transition for Start in state running");
  rejected(CompensateReply{0, CompensateOutcome::kOk, call, ""},
           "no transition for CompensateReply in state running");
  rejected(Replayed{EndRecord{}}, "no transition for Replayed in state running");
  rejected(ExecuteReply{5, ExecuteOutcome::kDone, call, "", true}, "never made");
  rejected(ExecuteReply{0, ExecuteOutcome::kDone, call + 100, "", true}, "never made");
  rejected(RecordDurable{99}, "never appended");
  rejected(TimerFired{99}, "never armed");
  Driver bad;
  Result<Effects> r = bad.m.Apply(Start{"g", Steps(3, true), {}, 0});
  EXPECT_TRUE(r.ok());
  r = Driver().m.Apply(Start{"g", {Steps(2)[0], Steps(2)[0]}, {}, 0});
  EXPECT_FALSE(r.ok());  // duplicate step ids
  std::vector<StepSpec> no_comp = Steps(2);
  no_comp[0].compensation_action.clear();
  EXPECT_FALSE(Driver().m.Apply(Start{"g", no_comp, {}, 0}).ok());
}

}  // namespace
}  // namespace txcoord::saga
