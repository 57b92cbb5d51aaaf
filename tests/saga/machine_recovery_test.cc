// The saga machine rebuilt from replayed records (Replayed + Recovered): the same fold as live
// records, interrupted calls re-sent, possibly-run steps compensated, END honoured.
#include <gtest/gtest.h>

#include "machine_test_util.h"
#include "txcoord/saga/machine.h"

namespace txcoord::saga {
namespace {

using namespace txcoord::saga::testing;  // NOLINT(google-build-using-namespace)
using F = StepPhase;
using E = StepEvent;

Record Begin(std::vector<StepSpec> steps) {
  return BeginRecord{"g1", std::move(steps), std::chrono::milliseconds(500)};
}
Record Rec(std::uint32_t step, F p, E e) {
  return StepRecord{step, p, e, ""};
}

// Replays the records into a fresh machine; returns the effects of Recovered.
Effects Recover(Driver& d, const std::vector<Record>& records) {
  for (const Record& r : records) EXPECT_TRUE(d.m.Apply(Replayed{r}).ok());
  return d.Do(Recovered{});
}

TEST(SagaMachineRecoveryTest, ForwardReExecutesTheInterruptedStepAndKeepsDoneOnes) {
  Driver d;
  Effects e = Recover(d, {Begin(Steps(3)), Rec(0, F::kForward, E::kStarted),
                          Rec(0, F::kForward, E::kDone), Rec(1, F::kForward, E::kStarted)});
  EXPECT_EQ(d.m.state(), MachineState::kRunning);
  EXPECT_EQ(One<CallExecute>(e).step, 1u);
  EXPECT_EQ(One<Publish>(e).view.steps[0].state, StepState::kDone);
  EXPECT_TRUE(All<Answer>(e).empty());
}

TEST(SagaMachineRecoveryTest, AStepWhoseStartedWasLostIsCompensatedWhenTheSagaTurnsBack) {
  std::vector<StepSpec> steps = Steps(3);
  steps[1].group = 0;  // steps 0 and 1 ran together; step 1's lazy STARTED was lost
  Driver d;
  Effects e = Recover(
      d, {Begin(steps), Rec(0, F::kForward, E::kStarted), Rec(0, F::kForward, E::kRefused)});
  AppendRecord decision = One<AppendRecord>(e);
  ASSERT_TRUE(std::holds_alternative<DecisionRecord>(decision.record));
  EXPECT_TRUE(All<CallCompensate>(e).empty());
  e = d.Do(RecordDurable{decision.seq});
  // Step 2 has no record either: possibly run, and its group is compensated first.
  e = d.Do(CompensateReply{2, CompensateOutcome::kOk, One<CallCompensate>(e).call, ""});
  EXPECT_EQ(One<CallCompensate>(e).step, 1u);  // possibly run: a null compensation if not
}

// Found by the simulation (seed 271): steps 0 and 1 run together, 1 is refused, the process
// dies with 0's Execute in flight. Recovery turns back at once; step 0 may have run, so it
// must be compensated, not left pending.
TEST(SagaMachineRecoveryTest, AnInterruptedStepIsCompensatedWhenRecoveryTurnsBackAtOnce) {
  std::vector<StepSpec> steps = Steps(2);
  steps[1].group = 0;
  Driver d;
  Effects e = Recover(d, {Begin(steps), Rec(0, F::kForward, E::kStarted),
                          Rec(1, F::kForward, E::kStarted), Rec(1, F::kForward, E::kRefused)});
  e = d.Do(RecordDurable{One<AppendRecord>(e).seq});  // the decision
  EXPECT_EQ(One<CallCompensate>(e).step, 0u);
}

TEST(SagaMachineRecoveryTest, BackwardCompensatesInterruptedAndUnrecordedStepsHighestFirst) {
  Driver d;
  Effects e =
      Recover(d, {Begin(Steps(3)), Rec(0, F::kForward, E::kStarted), Rec(0, F::kForward, E::kDone),
                  DecisionRecord{"step s1.x failed"}, Rec(0, F::kCompensate, E::kStarted)});
  EXPECT_EQ(d.m.state(), MachineState::kCompensating);
  // Steps 1 and 2 have no record: possibly run (lost lazy STARTED); step 2's group first.
  EXPECT_EQ(One<CallCompensate>(e).step, 2u);
  EXPECT_EQ(One<Publish>(e).view.state, SagaState::kCompensating);
  EXPECT_EQ(One<Publish>(e).view.reason, "step s1.x failed");
}

TEST(SagaMachineRecoveryTest, AStepWithoutCompensationAndWithoutRecordIsNotTakenAsRun) {
  Driver d;
  Effects e = Recover(d, {Begin(Steps(2, true)), Rec(0, F::kForward, E::kStarted),
                          Rec(0, F::kForward, E::kRefused)});
  e = d.Do(RecordDurable{One<AppendRecord>(e).seq});
  // Step 0 was refused, step 1 (no compensation, forced STARTED absent) never ran: done.
  AppendRecord end = One<AppendRecord>(e);
  ASSERT_TRUE(std::holds_alternative<EndRecord>(end.record));
  EXPECT_EQ(std::get<EndRecord>(end.record).final_state, FinalState::kCompensated);
  EXPECT_FALSE(d.m.View().stuck);
}

TEST(SagaMachineRecoveryTest, EndReplayedIsFinalAndAllDoneWithoutEndWritesItAgain) {
  Driver d;
  Effects e = Recover(d, {Begin(Steps(1)), Rec(0, F::kForward, E::kDone), EndRecord{}});
  EXPECT_EQ(d.m.state(), MachineState::kFinished);
  EXPECT_EQ(One<Publish>(e).view.state, SagaState::kCommitted);
  EXPECT_EQ(All<AppendRecord>(e).size(), 0u);

  Driver d2;
  e = Recover(d2, {Begin(Steps(1)), Rec(0, F::kForward, E::kDone)});
  ASSERT_TRUE(std::holds_alternative<EndRecord>(One<AppendRecord>(e).record));
  EXPECT_EQ(One<Publish>(e).view.state, SagaState::kRunning);  // not final before durable
}

TEST(SagaMachineRecoveryTest, LiveAndReplayedRecordsFoldToTheSameSteps) {
  Driver live;
  std::vector<Record> log;
  auto keep = [&](const Effects& e) {
    for (const AppendRecord& a : All<AppendRecord>(e)) log.push_back(a.record);
    return e;
  };
  keep(live.Do(Start{"g1", Steps(3), std::chrono::milliseconds(500), 0}));
  Effects e = keep(live.Do(RecordDurable{1}));
  e = keep(live.Do(ExecuteReply{0, ExecuteOutcome::kDone, One<CallExecute>(e).call, "", true}));
  e = keep(live.Do(ExecuteReply{1, ExecuteOutcome::kRefused, One<CallExecute>(e).call, "x", true}));
  e = keep(live.Do(RecordDurable{All<AppendRecord>(e).back().seq}));
  Machine replayed;
  for (const Record& r : log) ASSERT_TRUE(replayed.Apply(Replayed{r}).ok());
  const SagaView a = live.m.View();
  const SagaView b = replayed.View();
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (std::size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].state, b.steps[i].state) << i;
    EXPECT_EQ(a.steps[i].error, b.steps[i].error) << i;
  }
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.reason, b.reason);
}

TEST(SagaMachineRecoveryTest, MalformedReplaysAreRejected) {
  Driver d;
  EXPECT_FALSE(d.m.Apply(Replayed{Rec(0, F::kForward, E::kDone)}).ok());
  ASSERT_TRUE(d.m.Apply(Replayed{Begin(Steps(1))}).ok());
  EXPECT_FALSE(d.m.Apply(Replayed{Begin(Steps(1))}).ok());
  EXPECT_FALSE(d.m.Apply(Replayed{Rec(4, F::kForward, E::kDone)}).ok());
  ASSERT_TRUE(d.m.Apply(Replayed{EndRecord{}}).ok());
  EXPECT_FALSE(d.m.Apply(Replayed{Rec(0, F::kForward, E::kDone)}).ok());
  EXPECT_FALSE(d.m.Apply(ExecuteReply{0, ExecuteOutcome::kDone, 1, "", true}).ok());
  EXPECT_EQ(d.m.state(), MachineState::kReplaying);
}

}  // namespace
}  // namespace txcoord::saga
