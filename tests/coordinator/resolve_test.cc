// Operator decisions (TransactionManager::Resolve, txctl resolve): the refusals, the
// protocol-consistent decisions, heuristic ones (best-effort call, kHeuristic branches, forced
// END, mixed outcomes, sagas), replay and checkpoints after them, metrics, the timeline.
#include <future>

#include "fixture.h"

namespace txcoord::testing {
namespace {

class ResolveTest : public EngineTest {
 protected:
  static co::ResolveRequest Req(co::ResolveOutcome outcome, bool force,
                                std::string reason = "pg-2 decommissioned") {
    return co::ResolveRequest{outcome, force, std::move(reason), "alice"};
  }
  static constexpr auto kCommit = co::ResolveOutcome::kCommit;
  static constexpr auto kAbort = co::ResolveOutcome::kAbort;

  // A transfer whose COMMIT is durable while redis keeps failing phase 2: stuck committing,
  // with pg's branch acknowledged.
  void StuckCommitting(const std::string& gid) {
    redis->FailCommits(Code::kUnavailable, -1);
    auto r = tm->Submit(Request(gid));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(Eventually([&] {
      auto v = tm->Get(gid);
      return v.ok() && v->branches[0].state == co::BranchState::kCommitted &&
             v->branches[1].attempts >= 2;
    }));
  }

  // The decoded DECISION records of `gid` in the durable log.
  std::vector<co::v1::Decision> Decisions(const std::string& gid) {
    std::vector<co::v1::Decision> out;
    std::lock_guard<std::mutex> lock(store->mu);
    for (const auto& [lsn, body] : store->records) {
      co::v1::Record r;
      if (r.ParseFromString(body) && r.has_decision() && r.decision().gid() == gid) {
        out.push_back(r.decision());
      }
    }
    return out;
  }

  static bool HasTimeline(const co::TxnView& v, const std::string& record,
                          const std::string& detail_part) {
    for (const auto& e : v.timeline) {
      if (e.record == record && e.detail.find(detail_part) != std::string::npos) return true;
    }
    return false;
  }
};

TEST_F(ResolveTest, BadRequestsUnknownAndFinishedAreRefused) {
  Start();
  ASSERT_TRUE(tm->Submit(Request("done")).ok());
  WaitFinal("done");
  EXPECT_EQ(tm->Resolve("done", Req(kAbort, false, "")).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(tm->Resolve("done", Req(kAbort, true, std::string(co::kMaxResolveReasonLen + 1, 'x')))
                .status()
                .code(),
            Code::kInvalidArgument);
  co::ResolveRequest long_op = Req(kAbort, true);
  long_op.operator_id.assign(co::kMaxOperatorIdLen + 1, 'o');
  EXPECT_EQ(tm->Resolve("done", long_op).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(tm->Resolve("nope", Req(kAbort, true)).status().code(), Code::kNotFound);
  auto fin = tm->Resolve("done", Req(kAbort, true));
  EXPECT_EQ(fin.status().code(), Code::kConflict);
  EXPECT_NE(fin.status().message().find("already committed"), std::string::npos) << fin.status();
}

TEST_F(ResolveTest, CommittingTransactionRefusesWithoutForce) {
  Start();
  StuckCommitting("t1");
  auto abort = tm->Resolve("t1", Req(kAbort, false));
  EXPECT_EQ(abort.status().code(), Code::kConflict);
  EXPECT_NE(abort.status().message().find("durable COMMIT"), std::string::npos) << abort.status();
  EXPECT_NE(abort.status().message().find("--force"), std::string::npos) << abort.status();
  auto commit = tm->Resolve("t1", Req(kCommit, false));
  EXPECT_EQ(commit.status().code(), Code::kConflict);
  EXPECT_NE(commit.status().message().find("already decided commit"), std::string::npos)
      << commit.status();
  EXPECT_NE(commit.status().message().find("--force"), std::string::npos);
  auto v = tm->Get("t1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->state, co::TxnState::kCommitting);
  EXPECT_FALSE(v->heuristic);
  EXPECT_EQ(Decisions("t1").size(), 1u);  // nothing written
}

TEST_F(ResolveTest, ForcedCommitSettlesTheUnreachableBranchAndStopsCallingIt) {
  Start();
  StuckCommitting("t2");
  auto v = tm->Resolve("t2", Req(kCommit, true));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kCommitted);
  EXPECT_TRUE(v->heuristic);
  EXPECT_FALSE(v->heuristic_mixed);
  EXPECT_EQ(v->operator_id, "alice");
  EXPECT_NE(v->reason.find("pg-2 decommissioned"), std::string::npos) << v->reason;
  EXPECT_EQ(v->branches[0].state, co::BranchState::kCommitted);
  EXPECT_EQ(v->branches[1].state, co::BranchState::kHeuristic);
  EXPECT_NE(v->branches[1].last_error.find("settled by the operator"), std::string::npos);
  EXPECT_TRUE(HasTimeline(*v, "decision", "commit (heuristic, by alice: pg-2 decommissioned)"));
  EXPECT_TRUE(HasTimeline(*v, "end", "committed (heuristic; not acknowledged: b1."));
  EXPECT_TRUE(HasTimeline(*v, "begin", "2pc, 2 branches"));

  // The heuristic DECISION is durable with its fields, and an END follows.
  auto ds = Decisions("t2");
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_TRUE(ds[1].heuristic());
  EXPECT_EQ(ds[1].operator_id(), "alice");
  EXPECT_EQ(ds[1].reason(), "pg-2 decommissioned");
  EXPECT_GE(events->First("wal:END t2"), 0);

  // The settled branch is never called again (the phase-2 backoff here is <= 10 ms).
  const int calls = redis->commits();
  EXPECT_FALSE(Eventually([&] { return redis->commits() > calls; }, 300ms));
  EXPECT_EQ(tm->RetryNow("t2").code(), Code::kFailedPrecondition);
  co::Metrics m = tm->metrics();
  EXPECT_EQ(m.heuristic_commits, 1u);
  EXPECT_EQ(m.heuristic_aborts, 0u);
  EXPECT_EQ(m.heuristic_mixed, 0u);
  EXPECT_EQ(m.committed, 1u);
  EXPECT_EQ(m.in_flight, 0u);
}

TEST_F(ResolveTest, BestEffortCallSettlesAReachableBranch) {
  Start();
  StuckCommitting("t3");
  // Back just in time: once the heuristic decision is durable, before the best-effort call
  // (earlier, a phase-2 retry could finish the transaction before the resolve).
  fault::Registry::Global().Arm("coordinator.after_heuristic_decision",
                                fault::Spec::Callback([&] { redis->FailCommits(Code::kOk, 0); }));
  auto v = tm->Resolve("t3", Req(kCommit, true));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kCommitted);
  EXPECT_TRUE(v->heuristic);
  EXPECT_EQ(v->branches[1].state, co::BranchState::kCommitted);
  ExpectAtomic("t3", true);
}

TEST_F(ResolveTest, ForcedAbortAfterCommitIsMixed) {
  Start();
  StuckCommitting("t4");
  auto v = tm->Resolve("t4", Req(kAbort, true, "wallet store lost"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kAborted);
  EXPECT_TRUE(v->heuristic);
  EXPECT_TRUE(v->heuristic_mixed);
  // pg had committed and stays so; redis was still prepared and takes the abort.
  EXPECT_EQ(v->branches[0].state, co::BranchState::kCommitted);
  EXPECT_EQ(v->branches[1].state, co::BranchState::kAborted);
  EXPECT_EQ(pg->StateOf(Id("t4", "b0")), FakeState::kCommitted);
  EXPECT_EQ(redis->StateOf(Id("t4", "b1")), FakeState::kAborted);
  EXPECT_TRUE(HasTimeline(*v, "decision", "abort (heuristic, mixed, by alice"));
  auto ds = Decisions("t4");
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_TRUE(ds[1].heuristic_mixed());
  co::Metrics m = tm->metrics();
  EXPECT_EQ(m.heuristic_aborts, 1u);
  EXPECT_EQ(m.heuristic_mixed, 1u);
}

TEST_F(ResolveTest, AbortOfAnUndecidedOpenTransactionIsAForcedAbortDecision) {
  Start();
  co::OpenRequest o;
  o.gid = "xa";
  ASSERT_TRUE(tm->BeginOpen(o).ok());
  pg->SetPrepared(Id("xa", "p"));
  ASSERT_TRUE(tm->RegisterBranch("xa", "pg", "p").ok());
  auto v = tm->Resolve("xa", Req(kAbort, false, "client vanished"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->heuristic);
  EXPECT_EQ(v->operator_id, "alice");
  EXPECT_EQ(WaitFinal("xa").state, co::TxnState::kAborted);
  EXPECT_EQ(pg->StateOf(Id("xa", "p")), FakeState::kAborted);
  auto ds = Decisions("xa");
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].outcome(), co::v1::Decision::ABORT);
  EXPECT_FALSE(ds[0].heuristic());
  EXPECT_EQ(ds[0].operator_id(), "alice");
  EXPECT_EQ(ds[0].reason(), "client vanished");
  EXPECT_EQ(tm->metrics().heuristic_aborts, 0u);
}

TEST_F(ResolveTest, CommitOfAnUndecidedTransactionNeedsEveryBranchPrepared) {
  Start();
  co::OpenRequest o;
  o.gid = "xa2";
  ASSERT_TRUE(tm->BeginOpen(o).ok());
  pg->SetPrepared(Id("xa2", "p"));
  redis->SetPrepared(Id("xa2", "r"));
  ASSERT_TRUE(tm->RegisterBranch("xa2", "pg", "p").ok());
  ASSERT_TRUE(tm->RegisterBranch("xa2", "redis", "r").ok());
  auto v = tm->Resolve("xa2", Req(kCommit, false, "client confirmed by phone"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->heuristic);
  EXPECT_EQ(WaitFinal("xa2").state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->StateOf(Id("xa2", "p")), FakeState::kCommitted);
  EXPECT_EQ(redis->StateOf(Id("xa2", "r")), FakeState::kCommitted);

  // A one-shot transaction still preparing (pg's prepare hangs): commit is refused, abort is
  // the normal decision and the blocked submitter answers with it.
  pg->prepare_gate.Close();
  auto submit = std::async(std::launch::async, [&] { return tm->Submit(Request("t5")); });
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  ASSERT_TRUE(Eventually([&] {
    auto g = tm->Get("t5");
    return g.ok() && g->branches[1].state == co::BranchState::kPrepared;
  }));
  auto refused = tm->Resolve("t5", Req(kCommit, false));
  EXPECT_EQ(refused.status().code(), Code::kConflict);
  EXPECT_NE(refused.status().message().find("not prepared"), std::string::npos) << refused.status();
  auto aborted = tm->Resolve("t5", Req(kAbort, false));
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  auto answered = submit.get();
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_TRUE(answered->txn.state == co::TxnState::kAborting ||
              answered->txn.state == co::TxnState::kAborted);
  pg->prepare_gate.Open();
  EXPECT_EQ(WaitFinal("t5").state, co::TxnState::kAborted);
  ExpectAtomic("t5", false);
}

TEST_F(ResolveTest, ReplayAfterForcedResolveKeepsTheOutcomeAndCallsNothing) {
  Start();
  StuckCommitting("t6");
  ASSERT_TRUE(tm->Resolve("t6", Req(kCommit, true)).ok());
  ASSERT_TRUE(tm->Submit(Request("t6-after", {"pg"})).ok());  // a plain one finishing after it
  WaitFinal("t6-after");
  ASSERT_TRUE(tm->CheckpointNow().ok());  // a snapshot holds the finished heuristic outcome
  Restart();
  const int calls = redis->commits() + redis->aborts() + pg->commits() + pg->aborts();
  auto v = tm->Get("t6");
  ASSERT_TRUE(v.ok()) << v.status();  // kept across restarts: heuristic outcomes are audited
  EXPECT_EQ(v->state, co::TxnState::kCommitted);
  EXPECT_TRUE(v->heuristic);
  EXPECT_EQ(v->operator_id, "alice");
  EXPECT_EQ(v->branches[1].state, co::BranchState::kHeuristic);
  EXPECT_TRUE(HasTimeline(*v, "decision", "heuristic"));
  EXPECT_FALSE(Eventually(
      [&] { return redis->commits() + redis->aborts() + pg->commits() + pg->aborts() > calls; },
      300ms));
  EXPECT_EQ(tm->metrics().in_flight, 0u);

  // Through a checkpoint too.
  ASSERT_TRUE(tm->CheckpointNow().ok());
  Restart();
  auto c = tm->Get("t6");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->heuristic);
  EXPECT_EQ(c->state, co::TxnState::kCommitted);
  EXPECT_EQ(c->branches[1].state, co::BranchState::kHeuristic);
  EXPECT_TRUE(HasTimeline(*c, "end", "heuristic"));
}

TEST_F(ResolveTest, CrashBetweenHeuristicDecisionAndEndIsSettledByRecovery) {
  Start();
  StuckCommitting("t7");
  fault::Registry::Global().Arm("coordinator.after_heuristic_decision",
                                fault::Spec::Error(Code::kInternal));
  EXPECT_EQ(tm->Resolve("t7", Req(kAbort, true)).status().code(), Code::kUnavailable);
  Restart();  // redis still fails: one more best-effort call, then END
  auto v = tm->Wait("t7", 10s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kAborted);
  EXPECT_TRUE(v->heuristic);
  EXPECT_TRUE(v->heuristic_mixed);
  EXPECT_NE(v->reason.find("heuristic abort (mixed) by alice"), std::string::npos) << v->reason;
  ASSERT_TRUE(Eventually([&] { return events->First("wal:END t7") >= 0; }));
  EXPECT_EQ(tm->metrics().heuristic_mixed, 1u);
}

TEST_F(ResolveTest, StuckSagaIsRefusedWithoutForceAndEndedWithIt) {
  Start();
  redis->FailCompensates(Code::kUnavailable, -1);
  co::SagaRequest s;
  s.gid = "sg";
  for (int i = 0; i < 3; ++i) {
    co::SagaStepRequest st;
    st.participant = i == 1 ? "redis" : "pg";
    st.action = i == 2 ? "refuse" : "a" + std::to_string(i);
    st.compensation_action = "c" + std::to_string(i);
    st.group = static_cast<std::uint32_t>(i);
    s.steps.push_back(st);
  }
  pg->RefuseAction("refuse");
  ASSERT_TRUE(tm->SubmitSaga(s).ok());
  ASSERT_TRUE(Eventually([&] {
    auto v = tm->Get("sg");
    return v.ok() && v->state == co::TxnState::kCompensating && v->branches[1].attempts >= 2;
  }));
  auto refused = tm->Resolve("sg", Req(kAbort, false));
  EXPECT_EQ(refused.status().code(), Code::kConflict);
  EXPECT_NE(refused.status().message().find("saga"), std::string::npos);
  auto v = tm->Resolve("sg", Req(kAbort, true, "wallet compensated by hand"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kCompensated);
  EXPECT_TRUE(v->heuristic);
  EXPECT_FALSE(v->heuristic_mixed);
  EXPECT_EQ(v->branches[1].state, co::BranchState::kHeuristic);
  EXPECT_EQ(v->branches[2].state, co::BranchState::kRefused);
  const int calls = redis->compensates();
  EXPECT_FALSE(Eventually([&] { return redis->compensates() > calls; }, 300ms));
  EXPECT_TRUE(HasTimeline(*v, "saga_step", "step 2 forward refused"));
  EXPECT_EQ(tm->metrics().heuristic_aborts, 1u);
  EXPECT_EQ(tm->metrics().stuck, 0u);
}

}  // namespace
}  // namespace txcoord::testing
