// Sagas on the engine with fake participants and the memory WAL: forward path, compensation
// sets and order, retries, unknown outcomes, stuck compensations, groups, idempotency,
// validation, and recovery from every saga fault point.
#include "fixture.h"

namespace txcoord::testing {
namespace {

class SagaTest : public EngineTest {
 protected:
  SagaTest() {
    cfg.saga_step_max_attempts = 4;
    cfg.saga_stuck_after = 3;
    cfg.prepare_backoff = BackoffPolicy{1ms, 5ms};
    cfg.phase2_backoff = BackoffPolicy{1ms, 5ms};
  }

  // Steps alternate pg, redis, pg, ...; step i runs action "a<i>", compensated by "c<i>".
  static co::SagaRequest Saga(const std::string& gid, std::size_t n, int refuse_at = -1) {
    co::SagaRequest r;
    r.gid = gid;
    for (std::size_t i = 0; i < n; ++i) {
      co::SagaStepRequest s;
      s.participant = i % 2 == 0 ? "pg" : "redis";
      s.action = static_cast<int>(i) == refuse_at ? "refuse" : "a" + std::to_string(i);
      s.payload = {{"amount", "10"}};
      s.compensation_action = "c" + std::to_string(i);
      s.group = static_cast<std::uint32_t>(i);
      r.steps.push_back(std::move(s));
    }
    return r;
  }

  FakeParticipant& Of(std::size_t step) { return step % 2 == 0 ? *pg : *redis; }
  FakeSagaState StepState(const std::string& gid, std::size_t step) {
    return Of(step).SagaStateOf(Id(gid, "s" + std::to_string(step)));
  }
  std::string Comp(const std::string& gid, std::size_t step) {
    return "compensate:" + std::string(step % 2 == 0 ? "pg" : "redis") + ":" + gid + "/s" +
           std::to_string(step);
  }

  void SetUp() override {
    pg->RefuseAction("refuse");
    redis->RefuseAction("refuse");
  }
};

TEST_F(SagaTest, HappyPathRunsStepsInOrderAndCommits) {
  Start();
  auto r = tm->SubmitSaga(Saga("ok", 3));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->txn.mode, "saga");
  co::TxnView v = WaitFinal("ok");
  EXPECT_EQ(v.state, co::TxnState::kCommitted);
  EXPECT_EQ(v.mode, "saga");
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(StepState("ok", i), FakeSagaState::kExecuted);
    EXPECT_EQ(v.branches[i].state, co::BranchState::kDone);
  }
  EXPECT_LT(events->First("execute:pg:ok/s0"), events->First("execute:redis:ok/s1"));
  EXPECT_LT(events->First("execute:redis:ok/s1"), events->First("execute:pg:ok/s2"));
  EXPECT_EQ(events->First("compensate:"), -1);
  EXPECT_GE(events->First("wal:END ok committed"), 0);
  EXPECT_EQ(tm->metrics().saga_committed, 1u);
}

TEST_F(SagaTest, RefusalAtEachStepCompensatesExactlyTheDoneStepsInReverse) {
  Start();
  constexpr std::size_t kSteps = 4;
  for (std::size_t k = 0; k < kSteps; ++k) {
    const std::string gid = "refuse-at-" + std::to_string(k);
    ASSERT_TRUE(tm->SubmitSaga(Saga(gid, kSteps, static_cast<int>(k))).ok());
    co::TxnView v = WaitFinal(gid);
    EXPECT_EQ(v.state, co::TxnState::kCompensated) << gid;
    EXPECT_NE(v.reason.find("refused"), std::string::npos) << v.reason;
    for (std::size_t i = 0; i < kSteps; ++i) {
      if (i < k) {
        EXPECT_EQ(StepState(gid, i), FakeSagaState::kCompensated) << gid << " step " << i;
        EXPECT_EQ(v.branches[i].state, co::BranchState::kCompensated);
      } else {
        EXPECT_EQ(events->First(Comp(gid, i)), -1) << gid << " step " << i;
        const std::string exec =
            "execute:" + std::string(i % 2 ? "redis" : "pg") + ":" + gid + "/s" + std::to_string(i);
        EXPECT_EQ(events->First(exec) >= 0, i == k) << exec;
      }
    }
    EXPECT_EQ(v.branches[k].state, co::BranchState::kRefused);
    for (std::size_t i = 1; i < k; ++i) {  // reverse order
      EXPECT_LT(events->First(Comp(gid, i)), events->First(Comp(gid, i - 1))) << gid;
    }
  }
  EXPECT_EQ(tm->metrics().compensated, kSteps);
}

TEST_F(SagaTest, TransientErrorsAreRetriedThenSucceed) {
  Start();
  redis->FailExecutes(Code::kUnavailable, 2);
  ASSERT_TRUE(tm->SubmitSaga(Saga("transient", 3)).ok());
  co::TxnView v = WaitFinal("transient");
  EXPECT_EQ(v.state, co::TxnState::kCommitted);
  EXPECT_EQ(v.branches[1].attempts, 3u);
  EXPECT_EQ(redis->execute_effects(), 1);
}

TEST_F(SagaTest, TransientErrorsPastTheLimitCompensateThePossiblyDoneStep) {
  Start();
  redis->FailExecutes(Code::kTimeout, -1);
  ASSERT_TRUE(tm->SubmitSaga(Saga("exhausted", 3)).ok());
  co::TxnView v = WaitFinal("exhausted");
  EXPECT_EQ(v.state, co::TxnState::kCompensated);
  EXPECT_EQ(redis->executes(), static_cast<int>(cfg.saga_step_max_attempts));
  EXPECT_EQ(StepState("exhausted", 0), FakeSagaState::kCompensated);
  // Step 1 may have happened: it is compensated too (a null compensation in the store).
  EXPECT_EQ(StepState("exhausted", 1), FakeSagaState::kNullCompensated);
  EXPECT_EQ(events->First(Comp("exhausted", 2)), -1);
}

TEST_F(SagaTest, UnknownOutcomeIsRetriedIdempotently) {
  Start();
  pg->UnknownAfterExecute(1);
  ASSERT_TRUE(tm->SubmitSaga(Saga("unknown-retry", 2)).ok());
  co::TxnView v = WaitFinal("unknown-retry");
  EXPECT_EQ(v.state, co::TxnState::kCommitted);
  EXPECT_EQ(v.branches[0].attempts, 2u);
  EXPECT_EQ(pg->execute_effects(), 1);  // executed once in effect
}

TEST_F(SagaTest, UnknownOutcomeThatStaysUnknownIsCompensated) {
  cfg.saga_step_max_attempts = 1;
  Start();
  redis->UnknownAfterExecute(1);
  ASSERT_TRUE(tm->SubmitSaga(Saga("unknown", 3)).ok());
  co::TxnView v = WaitFinal("unknown");
  EXPECT_EQ(v.state, co::TxnState::kCompensated);
  EXPECT_EQ(StepState("unknown", 1), FakeSagaState::kCompensated);  // it had happened
  EXPECT_EQ(StepState("unknown", 0), FakeSagaState::kCompensated);
  EXPECT_LT(events->First(Comp("unknown", 1)), events->First(Comp("unknown", 0)));
}

TEST_F(SagaTest, FailingCompensationLeavesTheSagaVisiblyStuckUntilItSucceeds) {
  Start();
  pg->FailCompensates(Code::kUnavailable, -1);
  ASSERT_TRUE(tm->SubmitSaga(Saga("stuck", 2, 1)).ok());
  ASSERT_TRUE(Eventually([&] { return tm->Get("stuck")->stuck; }));
  co::TxnView v = *tm->Get("stuck");
  EXPECT_EQ(v.state, co::TxnState::kCompensating);
  EXPECT_FALSE(co::IsFinal(v.state));
  EXPECT_GE(v.branches[0].attempts, cfg.saga_stuck_after);
  EXPECT_NE(v.branches[0].last_error.find("scripted failure"), std::string::npos);
  EXPECT_NE(v.reason.find("stuck"), std::string::npos) << v.reason;
  EXPECT_EQ(tm->metrics().stuck, 1u);
  pg->FailCompensates(Code::kOk, 0);
  const Status retried = tm->RetryNow("stuck");  // may race the backoff timer's own retry
  EXPECT_TRUE(retried.ok() || retried.code() == Code::kFailedPrecondition) << retried;
  v = WaitFinal("stuck");
  EXPECT_EQ(v.state, co::TxnState::kCompensated);
  EXPECT_FALSE(v.stuck);
  EXPECT_EQ(tm->metrics().stuck, 0u);
}

TEST_F(SagaTest, StepsOfOneGroupRunConcurrently) {
  Start();
  co::SagaRequest r = Saga("groups", 3);
  r.steps[0].group = r.steps[1].group = 1;  // pg and redis together, then pg
  r.steps[2].group = 2;
  pg->execute_gate.Close();
  redis->execute_gate.Close();
  ASSERT_TRUE(tm->SubmitSaga(r).ok());
  ASSERT_TRUE(Eventually(
      [&] { return pg->execute_gate.waiting() == 1 && redis->execute_gate.waiting() == 1; }));
  EXPECT_EQ(events->First("execute:pg:groups/s2"), -1);
  pg->execute_gate.Open();
  redis->execute_gate.Open();
  EXPECT_EQ(WaitFinal("groups").state, co::TxnState::kCommitted);
  EXPECT_GT(events->First("execute:pg:groups/s2"), events->First("execute:redis:groups/s1"));
}

// A caller that waits (SagaRequest::caller_waits) has the steps run on its own thread: the
// saga, and its compensation after a refusal, are over when SubmitSaga returns.
TEST_F(SagaTest, AWaitingCallerRunsTheStepsOnItsOwnThread) {
  Start();
  co::SagaRequest ok = Saga("here-ok", 3);
  ok.caller_waits = 10s;
  auto r = tm->SubmitSaga(ok);
  ASSERT_TRUE(r.ok()) << r.status();
  auto v = tm->Get("here-ok");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kCommitted);
  co::SagaRequest back = Saga("here-back", 3, 2);
  back.caller_waits = 10s;
  ASSERT_TRUE(tm->SubmitSaga(back).ok());
  v = tm->Get("here-back");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kCompensated);
  EXPECT_EQ(StepState("here-back", 0), FakeSagaState::kCompensated);
  EXPECT_EQ(StepState("here-back", 1), FakeSagaState::kCompensated);
}

// On the waiting caller's thread only the last step of a group runs; its siblings still run
// concurrently on the pool, and a step that needs a retry goes back to the pool.
TEST_F(SagaTest, AWaitingCallerKeepsGroupsConcurrentAndRetriesOnThePool) {
  Start();
  co::SagaRequest r = Saga("here-groups", 3);
  r.steps[0].group = r.steps[1].group = 1;  // pg and redis together, then pg
  r.steps[2].group = 2;
  r.caller_waits = 10s;
  pg->execute_gate.Close();
  redis->execute_gate.Close();
  auto submitted = std::async(std::launch::async, [&] { return tm->SubmitSaga(r); });
  ASSERT_TRUE(Eventually(
      [&] { return pg->execute_gate.waiting() == 1 && redis->execute_gate.waiting() == 1; }));
  redis->FailExecutes(Code::kUnavailable, 1);  // s1 (redis, on the caller's thread) retries
  redis->execute_gate.Open();
  ASSERT_TRUE(submitted.get().ok());  // s0 still waits: the caller's thread is free again
  EXPECT_EQ(events->First("execute:pg:here-groups/s2"), -1);
  pg->execute_gate.Open();
  EXPECT_EQ(WaitFinal("here-groups").state, co::TxnState::kCommitted);
  EXPECT_GT(events->First("execute:pg:here-groups/s2"),
            events->First("execute:redis:here-groups/s1"));
}

TEST_F(SagaTest, RefusalInAGroupCompensatesItsDoneSiblingsAndEarlierGroups) {
  Start();
  co::SagaRequest r = Saga("group-refuse", 3);
  r.steps[1].group = r.steps[2].group = 1;
  r.steps[2].action = "refuse";
  ASSERT_TRUE(tm->SubmitSaga(r).ok());
  EXPECT_EQ(WaitFinal("group-refuse").state, co::TxnState::kCompensated);
  EXPECT_EQ(StepState("group-refuse", 0), FakeSagaState::kCompensated);
  EXPECT_EQ(StepState("group-refuse", 1), FakeSagaState::kCompensated);
  EXPECT_EQ(StepState("group-refuse", 2), FakeSagaState::kRefused);
  EXPECT_LT(events->First(Comp("group-refuse", 1)), events->First(Comp("group-refuse", 0)));
}

TEST_F(SagaTest, IdempotencyKeyReplaysAndRejectsAnotherBody) {
  Start();
  co::SagaRequest r = Saga("", 2);
  r.idempotency_key = "saga-key-1";
  auto first = tm->SubmitSaga(r);
  ASSERT_TRUE(first.ok()) << first.status();
  WaitFinal(first->txn.gid);
  auto again = tm->SubmitSaga(r);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->match, co::IdempotencyMatch::kReplayed);
  EXPECT_EQ(again->txn.gid, first->txn.gid);
  EXPECT_EQ(again->txn.state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->execute_effects(), 1);
  r.steps[0].payload["amount"] = "11";
  auto other = tm->SubmitSaga(r);
  EXPECT_TRUE(co::IsIdempotencyMismatch(other.status())) << other.status();
}

TEST_F(SagaTest, BadRequestsAreRefusedBeforeAnythingIsLogged) {
  Start();
  co::SagaRequest none;
  EXPECT_EQ(tm->SubmitSaga(none).status().code(), Code::kInvalidArgument);
  co::SagaRequest r = Saga("bad", 3);
  r.steps[1].compensation_action.clear();
  auto s = tm->SubmitSaga(r);
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("compensation is required"), std::string::npos);
  r = Saga("bad", 3);
  r.steps[2].compensation_action = "bad";
  EXPECT_EQ(tm->SubmitSaga(r).status().code(), Code::kInvalidArgument);
  r = Saga("bad", 3);
  r.steps[0].participant = "nope";
  EXPECT_EQ(tm->SubmitSaga(r).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(events->First("wal:"), -1);
  r = Saga("last-without", 3);  // the last step alone may go without a compensation
  r.steps[2].compensation_action.clear();
  ASSERT_TRUE(tm->SubmitSaga(r).ok());
  EXPECT_EQ(WaitFinal("last-without").state, co::TxnState::kCommitted);
}

// --- recovery ---

struct SagaCrash {
  const char* point;
  std::uint64_t hit;
  int refuse_at;  // -1 = forward saga
};

void PrintTo(const SagaCrash& c, std::ostream* os) {
  *os << c.point << "@" << c.hit << (c.refuse_at < 0 ? " forward" : " refusing");
}

class SagaCrashTest : public SagaTest, public ::testing::WithParamInterface<SagaCrash> {};

TEST_P(SagaCrashTest, RecoveryFinishesWithEveryStepOnceInEffect) {
  const SagaCrash& c = GetParam();
  Start();
  fault::Registry::Global().Arm(c.point, fault::Spec::Error(Code::kInternal).At(c.hit));
  (void)tm->SubmitSaga(Saga("crash", 3, c.refuse_at));
  ASSERT_TRUE(Eventually([&] { return !tm->ready(); })) << c.point;
  Restart();
  co::TxnView v = WaitFinal("crash");
  EXPECT_EQ(v.state, c.refuse_at < 0 ? co::TxnState::kCommitted : co::TxnState::kCompensated);
  EXPECT_EQ(pg->execute_effects() + redis->execute_effects(), c.refuse_at < 0 ? 3 : c.refuse_at);
  for (int i = 0; i < 3; ++i) {
    const FakeSagaState want = c.refuse_at < 0    ? FakeSagaState::kExecuted
                               : i < c.refuse_at  ? FakeSagaState::kCompensated
                               : i == c.refuse_at ? FakeSagaState::kRefused
                                                  : FakeSagaState::kNone;
    EXPECT_EQ(StepState("crash", i), want) << "step " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(FaultPoints, SagaCrashTest,
                         ::testing::Values(SagaCrash{"saga.after_begin_durable", 1, -1},
                                           SagaCrash{"saga.after_step_started", 1, -1},
                                           SagaCrash{"saga.after_step_started", 2, -1},
                                           SagaCrash{"saga.after_step_done", 1, -1},
                                           SagaCrash{"saga.after_step_done", 3, -1},
                                           SagaCrash{"saga.before_end", 1, -1},
                                           SagaCrash{"saga.after_step_done", 2, 2},
                                           SagaCrash{"saga.after_compensation_started", 1, 2},
                                           SagaCrash{"saga.after_compensation_started", 2, 2},
                                           SagaCrash{"saga.after_compensation_done", 1, 2},
                                           SagaCrash{"saga.before_end", 1, 2}));

// Every record of a fully compensable saga but BEGIN is lazy: a crash before END can lose them
// all. The steps that ran must then still be compensated if the saga turns back.
class LostRecordsTest : public SagaTest, public ::testing::WithParamInterface<bool> {};

TEST_P(LostRecordsTest, StepsThatRanAreCompensatedWhenTheSagaTurnsBack) {
  const bool crash_while_compensating = GetParam();
  Start();
  fault::Registry::Global().Arm("saga.after_step_done", fault::Spec::Error(Code::kInternal).At(2));
  (void)tm->SubmitSaga(Saga("lost", 3));
  ASSERT_TRUE(Eventually([&] { return !tm->ready(); }));
  Crash();
  EXPECT_EQ(store->record_count(), 1u);  // BEGIN only: steps 0 and 1 ran without a trace
  EXPECT_EQ(StepState("lost", 1), FakeSagaState::kExecuted);
  pg->FailExecutes(Code::kUnavailable, -1);  // step 0's re-execute fails: the saga turns back
  fault::Registry::Global().DisarmAll();
  if (crash_while_compensating) {  // the ABORT is durable, the compensation records are not
    fault::Registry::Global().Arm("saga.after_compensation_done",
                                  fault::Spec::Error(Code::kInternal).At(1));
  }
  Start();
  if (crash_while_compensating) {
    ASSERT_TRUE(Eventually([&] { return !tm->ready(); }));
    Restart();
  }
  EXPECT_EQ(WaitFinal("lost").state, co::TxnState::kCompensated);
  EXPECT_EQ(StepState("lost", 0), FakeSagaState::kCompensated);
  EXPECT_EQ(StepState("lost", 1), FakeSagaState::kCompensated);  // ran in the first life
  EXPECT_EQ(StepState("lost", 2), FakeSagaState::kNullCompensated);
  EXPECT_EQ(pg->execute_effects() + redis->execute_effects(), 2);
}

INSTANTIATE_TEST_SUITE_P(Saga, LostRecordsTest, ::testing::Bool());

TEST_F(SagaTest, StepsWhoseLazyRecordsWereLostRunOnceGoingForward) {
  Start();
  fault::Registry::Global().Arm("saga.after_step_done", fault::Spec::Error(Code::kInternal).At(2));
  (void)tm->SubmitSaga(Saga("lost-fwd", 3));
  ASSERT_TRUE(Eventually([&] { return !tm->ready(); }));
  Restart();
  EXPECT_EQ(WaitFinal("lost-fwd").state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->execute_effects() + redis->execute_effects(), 3);
  EXPECT_EQ(pg->compensates() + redis->compensates(), 0);
}

// A step without a compensation cannot be undone: its STARTED is forced, so recovery never
// takes it as possibly run unless it may have run.
TEST_F(SagaTest, AStepWithoutCompensationHasADurableStarted) {
  Start();
  co::SagaRequest r = Saga("pivot", 2);
  r.steps[1].compensation_action.clear();
  fault::Registry::Global().Arm("saga.after_step_started",
                                fault::Spec::Error(Code::kInternal).At(2));
  (void)tm->SubmitSaga(r);
  ASSERT_TRUE(Eventually([&] { return !tm->ready(); }));
  Crash();
  EXPECT_EQ(store->record_count(), 4u);  // BEGIN, step 0 STARTED + DONE, step 1 STARTED
  Restart();
  EXPECT_EQ(WaitFinal("pivot").state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->execute_effects() + redis->execute_effects(), 2);
}

TEST_F(SagaTest, CheckpointKeepsLiveSagasAcrossRestart) {
  Start();
  pg->FailCompensates(Code::kUnavailable, -1);
  ASSERT_TRUE(tm->SubmitSaga(Saga("ckpt", 3, 2)).ok());
  ASSERT_TRUE(Eventually([&] { return tm->Get("ckpt")->stuck; }));
  ASSERT_TRUE(tm->CheckpointNow().ok());
  Restart();
  co::TxnView v = *tm->Get("ckpt");
  EXPECT_EQ(v.state, co::TxnState::kCompensating);
  EXPECT_EQ(v.mode, "saga");
  pg->FailCompensates(Code::kOk, 0);
  EXPECT_EQ(WaitFinal("ckpt").state, co::TxnState::kCompensated);
  EXPECT_EQ(StepState("ckpt", 0), FakeSagaState::kCompensated);
  EXPECT_EQ(StepState("ckpt", 1), FakeSagaState::kCompensated);
  EXPECT_EQ(pg->execute_effects() + redis->execute_effects(), 2);
}

TEST_F(SagaTest, IdempotencyOfAFinishedSagaSurvivesRestart) {
  Start();
  co::SagaRequest r = Saga("idem-restart", 2, 1);
  r.idempotency_key = "k-restart";
  ASSERT_TRUE(tm->SubmitSaga(r).ok());
  EXPECT_EQ(WaitFinal("idem-restart").state, co::TxnState::kCompensated);
  Restart();
  auto again = tm->SubmitSaga(r);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->match, co::IdempotencyMatch::kReplayed);
  EXPECT_EQ(again->txn.gid, "idem-restart");
}

// A finished saga comes back from the log (its END replayed) and from a checkpoint (its
// finished entry) as it ended: state, reason and every step's state, the step that never ran
// still pending. It is not resumed: nothing more is sent.
TEST_F(SagaTest, AFinishedSagaIsKeptAcrossRestartAsItEnded) {
  Start();
  ASSERT_TRUE(tm->SubmitSaga(Saga("kept-done", 2)).ok());
  ASSERT_TRUE(tm->SubmitSaga(Saga("kept-comp", 4, 2)).ok());  // step 2 refuses
  const co::TxnView done = WaitFinal("kept-done");
  const co::TxnView comp = WaitFinal("kept-comp");
  ASSERT_EQ(comp.state, co::TxnState::kCompensated);
  ASSERT_EQ(comp.branches[3].state, co::BranchState::kPending);  // never ran
  Fence();
  for (const bool checkpoint : {false, true}) {
    SCOPED_TRACE(checkpoint ? "from a checkpoint" : "from the log");
    RestartFrom(checkpoint);
    const int calls = pg->executes() + pg->compensates() + redis->executes() + redis->compensates();
    for (const co::TxnView* was : {&done, &comp}) {
      auto v = tm->Get(was->gid);
      ASSERT_TRUE(v.ok()) << was->gid << ": " << v.status();
      EXPECT_EQ(v->state, was->state) << was->gid;
      EXPECT_EQ(v->reason, was->reason) << was->gid;
      ASSERT_EQ(v->branches.size(), was->branches.size()) << was->gid;
      for (std::size_t i = 0; i < was->branches.size(); ++i) {
        EXPECT_EQ(v->branches[i].state, was->branches[i].state) << was->gid << " step " << i;
      }
      EXPECT_EQ(v->timeline.back().record, "end") << was->gid;
    }
    EXPECT_EQ(tm->metrics().in_flight, 1u);  // the fence only
    EXPECT_EQ(pg->executes() + pg->compensates() + redis->executes() + redis->compensates(), calls)
        << "a finished saga is not resumed";
  }
}

// Found by the saga machine's simulation (saga/, seed 271): two steps run together; step 1 is
// refused and the coordinator dies while step 0's Execute is in flight, before the turn back is
// decided. Recovery must treat step 0 as possibly done: the saga turns back at once and step 0's
// late Execute must not stay uncompensated.
TEST_F(SagaTest, AnInterruptedStepOfAGroupIsCompensatedWhenRecoveryTurnsBack) {
  Start();
  co::SagaRequest r = Saga("group-crash", 2, 1);
  r.steps[1].group = 0;
  pg->execute_gate.Close();
  redis->execute_gate.Close();
  // Once step 1's REFUSED is appended: a forced record makes it and step 0's STARTED durable,
  // and the turn back's ABORT decision then fails to append (the coordinator stops).
  fault::Registry::Global().Arm("saga.after_step_refused", fault::Spec::Callback([&] {
                                  Fence();
                                  log->FailAppendAfter(1);
                                }));
  ASSERT_TRUE(tm->SubmitSaga(r).ok());
  // Both calls in flight; then step 1's refusal stops the coordinator.
  ASSERT_TRUE(Eventually(
      [&] { return pg->execute_gate.waiting() == 1 && redis->execute_gate.waiting() == 1; }));
  redis->execute_gate.Open();
  ASSERT_TRUE(Eventually([&] { return !tm->ready(); }));
  const auto step0 = Id("group-crash", "s0");
  pg->execute_gate.Open();  // the in-flight Execute lands after the coordinator stopped
  ASSERT_TRUE(Eventually([&] { return pg->SagaStateOf(step0) == FakeSagaState::kExecuted; }));
  Restart();
  const co::TxnView v = WaitFinal("group-crash");
  EXPECT_EQ(v.state, co::TxnState::kCompensated);
  EXPECT_EQ(pg->SagaStateOf(step0), FakeSagaState::kCompensated) << "step 0 left executed";
}

}  // namespace
}  // namespace txcoord::testing
