// Issue 19's two bugs, through the engine: (1) nothing that depends on the COMMIT decision —
// a commit call, a "committed" answer (also an idempotent replay), a view — happens before the
// record is durable, and a kill in that window leaves both stores aborted; a protocol conflict
// does not open a participant's circuit breaker; (2) a gid the engine forgot and a client reuses
// gets fresh branch/step ids (incarnations) in every mode, so its effects happen again.
#include <future>
#include <latch>
#include <set>

#include "fixture.h"

namespace txcoord::testing {
namespace {

// Holds the first append whose record Describe()s as `what` inside the log (the record is not
// durable) until Release(); Held() says it got there.
class AppendHold {
 public:
  AppendHold(MemoryLog& log, std::shared_ptr<EventLog> events, std::string what)
      : what_(std::move(what)) {
    log.OnAppend([this, events](const std::string& body) {
      const std::string d = Describe(body);
      events->Add("wal:" + d);
      if (d != what_ || used_.exchange(true)) return;
      held_.count_down();
      release_.wait();
    });
  }
  bool Held() { return held_.try_wait(); }
  void Release() { release_.count_down(); }

 private:
  std::string what_;
  std::atomic<bool> used_{false};
  std::latch held_{1};
  std::latch release_{1};
};

class DurableVisibleTest : public EngineTest {};

TEST_F(DurableVisibleTest, NothingDependsOnTheCommitBeforeItIsDurable) {
  Start();
  AppendHold hold(*log, events, "COMMIT t-hold");
  auto req = Request("t-hold");
  req.idempotency_key = "k-hold";
  auto first = std::async(std::launch::async, [&] { return tm->Submit(req); });
  ASSERT_TRUE(Eventually([&] { return hold.Held(); }, 5s));

  // An operator's retry: no commit call, and it says why.
  Status retry = tm->RetryNow("t-hold");
  EXPECT_EQ(retry.code(), Code::kFailedPrecondition) << retry;
  // A client's retry with the same key: in progress, never "committed".
  auto again = tm->Submit(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->match, co::IdempotencyMatch::kInProgress);
  EXPECT_EQ(again->txn.state, co::TxnState::kPreparing);
  // A reader: still preparing.
  auto got = tm->Get("t-hold");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, co::TxnState::kPreparing);
  EXPECT_EQ(tm->List(co::TxnState::kCommitting, 10).size(), 0u);
  // An operator's abort: refused, the decision is taken.
  co::ResolveRequest abort;
  abort.outcome = co::ResolveOutcome::kAbort;
  abort.reason = "test";
  abort.operator_id = "op";
  EXPECT_EQ(tm->Resolve("t-hold", abort).status().code(), Code::kConflict);
  EXPECT_EQ(events->First("commit:"), -1) << "a commit call before the COMMIT was durable";
  EXPECT_EQ(pg->StateOf(Id("t-hold", "b0")), FakeState::kPrepared);
  EXPECT_EQ(redis->StateOf(Id("t-hold", "b1")), FakeState::kPrepared);

  hold.Release();
  auto r = first.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->txn.state == co::TxnState::kCommitting ||
              r->txn.state == co::TxnState::kCommitted);
  WaitFinal("t-hold");
  ExpectAtomic("t-hold", true);
  EXPECT_LT(events->First("wal:COMMIT t-hold"), events->First("commit:"));
}

TEST_F(DurableVisibleTest, AKillBeforeTheCommitIsDurableAbortsEverywhere) {
  Start();
  fault::Registry::Global().Arm("coordinator.commit_decision.before_durable",
                                fault::Spec::Error(Code::kDataLoss));
  auto r = tm->Submit(Request("t-kill"));
  EXPECT_EQ(r.status().code(), Code::kUnknownOutcome) << r.status();
  EXPECT_FALSE(tm->ready());
  EXPECT_EQ(events->First("commit:"), -1);
  const auto b0 = Id("t-kill", "b0"), b1 = Id("t-kill", "b1");
  Restart();
  ASSERT_TRUE(Eventually(
      [&] {
        return pg->StateOf(b0) == FakeState::kAborted && redis->StateOf(b1) == FakeState::kAborted;
      },
      5s));
  EXPECT_EQ(events->First("commit:"), -1);
}

TEST_F(DurableVisibleTest, ACheckpointInTheWindowKeepsTheDecision) {
  Start();
  AppendHold hold(*log, events, "COMMIT t-cut");
  auto first = std::async(std::launch::async, [&] { return tm->Submit(Request("t-cut")); });
  ASSERT_TRUE(Eventually([&] { return hold.Held(); }, 5s));
  // The checkpoint waits for the append's gate; it follows the COMMIT in the log.
  auto cut = std::async(std::launch::async, [&] { return tm->CheckpointNow(); });
  hold.Release();
  ASSERT_TRUE(first.get().ok());
  ASSERT_TRUE(cut.get().ok());
  const auto b0 = Id("t-cut", "b0"), b1 = Id("t-cut", "b1");
  Restart();
  ASSERT_TRUE(Eventually(
      [&] {
        return pg->StateOf(b0) == FakeState::kCommitted &&
               redis->StateOf(b1) == FakeState::kCommitted;
      },
      5s));
}

TEST_F(DurableVisibleTest, AProtocolConflictDoesNotOpenTheBreaker) {
  cfg.breaker_failures = 2;
  Start();
  // A branch the store already aborted, with a durable COMMIT: every commit is a conflict.
  pg->FailCommits(Code::kConflict, -1);
  auto r = tm->Submit(Request("t-conflict"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(Eventually([&] { return pg->commits() >= 5; }, 5s));
  EXPECT_FALSE(tm->metrics().breaker_open.at("pg"));
  // Unavailable answers still open it.
  pg->FailCommits(Code::kUnavailable, -1);
  ASSERT_TRUE(Eventually([&] { return tm->metrics().breaker_open.at("pg"); }, 5s));
}

TEST_F(DurableVisibleTest, EveryTransactionGetsFreshBranchIds) {
  cfg.max_finished_kept = 1;
  Start();
  ASSERT_TRUE(tm->Submit(Request("t-reuse")).ok());
  const co::TxnView first = WaitFinal("t-reuse");
  ASSERT_TRUE(tm->Submit(Request("t-other")).ok());
  WaitFinal("t-other");
  ASSERT_EQ(tm->Get("t-reuse").status().code(), Code::kNotFound);  // forgotten
  auto again = tm->Submit(Request("t-reuse"));
  ASSERT_TRUE(again.ok()) << again.status();
  const co::TxnView second = WaitFinal("t-reuse");
  ASSERT_EQ(second.state, co::TxnState::kCommitted);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_NE(first.branches[i].branch, second.branches[i].branch);
    EXPECT_EQ(first.branches[i].branch.substr(0, 3), "b" + std::to_string(i) + ".");
  }
  EXPECT_EQ(pg->StateOf(Id("t-reuse", first.branches[0].branch)), FakeState::kCommitted);
  EXPECT_EQ(pg->StateOf(Id("t-reuse", second.branches[0].branch)), FakeState::kCommitted);
}

TEST_F(DurableVisibleTest, AReusedSagaGidRunsItsStepsAgain) {
  cfg.max_finished_kept = 1;
  Start();
  auto saga = [] {
    co::SagaRequest s;
    s.gid = "s-reuse";
    s.steps.push_back({"pg", "debit", {{"amount", "5"}}, "refund", {{"amount", "5"}}, 0, ""});
    s.steps.push_back({"redis", "credit", {{"amount", "5"}}, "", {}, 1, ""});
    return s;
  };
  ASSERT_TRUE(tm->SubmitSaga(saga()).ok());
  const co::TxnView first = WaitFinal("s-reuse");
  ASSERT_EQ(first.state, co::TxnState::kCommitted);
  ASSERT_TRUE(tm->Submit(Request("t-evict")).ok());
  WaitFinal("t-evict");
  ASSERT_EQ(tm->Get("s-reuse").status().code(), Code::kNotFound);
  ASSERT_TRUE(tm->SubmitSaga(saga()).ok());
  const co::TxnView second = WaitFinal("s-reuse");
  ASSERT_EQ(second.state, co::TxnState::kCommitted);
  std::set<std::string> ids;
  for (const auto& v : {first, second}) {
    for (const auto& b : v.branches) ids.insert(b.branch);
  }
  EXPECT_EQ(ids.size(), 4u) << "steps of the second saga reused the first one's ids";
  for (const auto& v : {first, second}) {
    EXPECT_EQ(pg->SagaStateOf(Id("s-reuse", v.branches[0].branch)), FakeSagaState::kExecuted);
    EXPECT_EQ(redis->SagaStateOf(Id("s-reuse", v.branches[1].branch)), FakeSagaState::kExecuted);
  }
}

TEST_F(DurableVisibleTest, ABranchLabelTooLongForItsIncarnationIsRefused) {
  Start();
  auto req = Request("t-label");
  req.branches[0].branch = "eightchr";
  auto r = tm->Submit(req);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("incarnation"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace txcoord::testing
