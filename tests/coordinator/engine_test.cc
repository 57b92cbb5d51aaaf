// The 2PC happy and unhappy paths, ordering of durable records, phase-2 delivery, breaker,
// bulkhead, limits, validation, WAL fail-stop.
#include <filesystem>
#include <fstream>
#include <future>
#include <map>

#include "fixture.h"

namespace txcoord::testing {
namespace {

TEST_F(EngineTest, CommitPathCommitsEveryBranchAndLogsInOrder) {
  Start();
  auto r = tm->Submit(Request("t-commit"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->match, co::IdempotencyMatch::kNew);
  EXPECT_TRUE(r->txn.state == co::TxnState::kCommitting ||
              r->txn.state == co::TxnState::kCommitted);
  co::TxnView v = WaitFinal("t-commit");
  EXPECT_EQ(v.state, co::TxnState::kCommitted);
  ExpectAtomic("t-commit", true);
  ASSERT_TRUE(Eventually([&] { return events->First("wal:END t-commit") >= 0; }));
  // BEGIN forced before any prepare; COMMIT before any commit; END after every commit.
  const int begin = events->First("wal:BEGIN t-commit");
  const int commit = events->First("wal:COMMIT t-commit");
  ASSERT_GE(begin, 0);
  ASSERT_GE(commit, 0);
  EXPECT_LT(begin, events->First("prepare:"));
  EXPECT_LT(events->Last("prepare:"), commit);
  EXPECT_LT(commit, events->First("commit:"));
  EXPECT_GT(events->First("wal:END t-commit"), events->Last("commit:"));
  for (const auto& b : v.branches) {
    EXPECT_EQ(b.state, co::BranchState::kCommitted);
    EXPECT_EQ(b.attempts, 1u);
  }
  EXPECT_EQ(tm->metrics().committed, 1u);
  EXPECT_EQ(tm->metrics().branch_calls["pg"]["prepare.yes"], 1u);
}

TEST_F(EngineTest, GeneratedGidIsValidAndUnique) {
  Start();
  auto a = tm->Submit(Request(""));
  auto b = tm->Submit(Request(""));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->txn.gid, b->txn.gid);
  EXPECT_TRUE(participant::ValidateGid(a->txn.gid).ok()) << a->txn.gid;
}

TEST_F(EngineTest, NoVoteAbortsEverywhere) {
  redis->VoteNo(true);
  Start();
  auto r = tm->Submit(Request("t-no"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->txn.state == co::TxnState::kAborting || r->txn.state == co::TxnState::kAborted);
  EXPECT_NE(r->txn.reason.find("voted no"), std::string::npos) << r->txn.reason;
  EXPECT_EQ(WaitFinal("t-no").state, co::TxnState::kAborted);
  ExpectAtomic("t-no", false);
  EXPECT_EQ(events->First("wal:COMMIT"), -1);
  EXPECT_EQ(events->First("commit:"), -1);
}

TEST_F(EngineTest, PrepareTimeoutAborts) {
  pg->prepare_gate.Close();
  Start();
  auto req = Request("t-timeout");
  req.timeout = 100ms;
  auto r = tm->Submit(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->txn.reason.find("timeout"), std::string::npos) << r->txn.reason;
  pg->prepare_gate.Open();  // the late prepare arrives after the abort and votes no
  EXPECT_EQ(WaitFinal("t-timeout").state, co::TxnState::kAborted);
  ExpectAtomic("t-timeout", false);
  EXPECT_EQ(pg->prepared_count() + redis->prepared_count(), 0u);
}

// The last branch's prepare runs on the Submit thread. When it hangs past the prepare deadline,
// the housekeeping tick takes the timeout decision in time (the other branch is aborted while
// the submitter is still in the call); Submit answers with it once the call returns.
TEST_F(EngineTest, PrepareOnTheSubmitThreadHangingPastTheDeadlineIsAbortedInTime) {
  pg->prepare_gate.Close();
  Start();
  auto req = Request("t-here", {"redis", "pg"});
  req.timeout = 100ms;
  auto submit = std::async(std::launch::async, [&] { return tm->Submit(req); });
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  ASSERT_TRUE(
      Eventually([&] { return redis->StateOf(Id("t-here", "b0")) == FakeState::kAborted; }, 5s));
  EXPECT_NE(tm->Get("t-here")->state, co::TxnState::kPreparing);  // decided: abort
  EXPECT_EQ(submit.wait_for(0s), std::future_status::timeout) << "Submit is in pg's prepare";
  EXPECT_EQ(pg->prepare_gate.waiting(), 1);
  pg->prepare_gate.Open();  // the late prepare finds the abort and votes no
  auto r = submit.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->txn.reason.find("timeout"), std::string::npos) << r->txn.reason;
  EXPECT_EQ(WaitFinal("t-here").state, co::TxnState::kAborted);
  EXPECT_EQ(pg->StateOf(Id("t-here", "b1")), FakeState::kAborted);
  EXPECT_EQ(events->First("wal:COMMIT"), -1);
}

// A prepare on the Submit thread takes one of the participant's slots like a pooled call: with
// every slot taken, the next one waits in the channel's queue.
TEST_F(EngineTest, PrepareOnTheSubmitThreadKeepsTheConcurrencyCap) {
  cfg.max_concurrent_per_participant = 1;
  pg->prepare_gate.Close();
  Start();
  auto first =
      std::async(std::launch::async, [&] { return tm->Submit(Request("t-cap1", {"pg"})); });
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  auto second =
      std::async(std::launch::async, [&] { return tm->Submit(Request("t-cap2", {"pg"})); });
  EXPECT_FALSE(Eventually([&] { return pg->prepare_gate.waiting() > 1; }, 200ms));
  pg->prepare_gate.Open();
  ASSERT_TRUE(first.get().ok());
  ASSERT_TRUE(second.get().ok());
  EXPECT_EQ(WaitFinal("t-cap1").state, co::TxnState::kCommitted);
  EXPECT_EQ(WaitFinal("t-cap2").state, co::TxnState::kCommitted);
}

// A caller that is going to wait for phase 2 lets Submit make one commit call itself: a
// one-branch transaction is finished when Submit returns. Aborts stay on the pool (the
// participant that refused or timed out may be the slow one).
TEST_F(EngineTest, CallerWaitingForPhase2MakesOneCommitCallItself) {
  Start();
  auto req = Request("t-wait", {"redis"});
  req.caller_waits_phase2 = true;
  auto r = tm->Submit(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->txn.state, co::TxnState::kCommitted);
  EXPECT_EQ(redis->StateOf(Id("t-wait", "b0")), FakeState::kCommitted);
  redis->commit_gate.Close();  // the commit runs on this thread: Submit waits for it
  auto slow = std::async(std::launch::async, [&] {
    auto q = Request("t-wait2", {"redis"});
    q.caller_waits_phase2 = true;
    return tm->Submit(q);
  });
  ASSERT_TRUE(Eventually([&] { return redis->commit_gate.waiting() == 1; }));
  EXPECT_EQ(slow.wait_for(50ms), std::future_status::timeout);
  redis->commit_gate.Open();
  ASSERT_TRUE(slow.get().ok());
  redis->commit_gate.Close();  // not waiting: Submit answers right after the decision
  auto bg = Request("t-bg", {"redis"});
  auto b = tm->Submit(bg);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->txn.state, co::TxnState::kCommitting);
  redis->commit_gate.Open();
  EXPECT_EQ(WaitFinal("t-bg").state, co::TxnState::kCommitted);
}

// Participants whose calls take less than inline_calls_under are called on the waiting
// caller's thread, one after another: pg's prepare (not the last branch) holds up redis's,
// and pg's commit holds up redis's. Before enough calls were timed, pg's go to the pool.
TEST_F(EngineTest, QuickParticipantsAreCalledOneAfterAnotherOnTheWaitingThread) {
  cfg.inline_calls_under = 1s;  // the fakes are far quicker, even on a loaded machine
  Start();
  pg->prepare_gate.Close();  // the first call: pg's calls have not been timed yet
  auto first = std::async(std::launch::async, [&] { return tm->Submit(Request("t-first")); });
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  EXPECT_TRUE(
      Eventually([&] { return redis->StateOf(Id("t-first", "b1")) == FakeState::kPrepared; }));
  pg->prepare_gate.Open();
  ASSERT_TRUE(first.get().ok());
  EXPECT_EQ(WaitFinal("t-first").state, co::TxnState::kCommitted);

  WarmUp(8);
  pg->prepare_gate.Close();
  auto req = Request("t-inline");
  req.caller_waits_phase2 = true;
  auto inl = std::async(std::launch::async, [&] { return tm->Submit(req); });
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  EXPECT_FALSE(
      Eventually([&] { return redis->StateOf(Id("t-inline", "b1")) != FakeState::kNone; }, 100ms))
      << "redis was asked while pg's prepare on the same thread was still running";
  pg->commit_gate.Close();
  pg->prepare_gate.Open();
  EXPECT_TRUE(Eventually([&] { return pg->commit_gate.waiting() == 1; }));
  EXPECT_EQ(redis->StateOf(Id("t-inline", "b1")), FakeState::kPrepared)
      << "redis's commit did not wait for pg's on the same thread";
  EXPECT_EQ(inl.wait_for(50ms), std::future_status::timeout);
  pg->commit_gate.Open();
  auto r = inl.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(WaitFinal("t-inline").state, co::TxnState::kCommitted);
  ExpectAtomic("t-inline", true);
}

// A refusal among the quick calls: the branches after it are not asked to prepare; the abort
// reaches them (a late prepare would vote no).
TEST_F(EngineTest, AQuickRefusalSkipsTheRemainingPrepares) {
  cfg.inline_calls_under = 1s;
  Start();
  WarmUp(8);
  const int redis_prepares = redis->prepares();
  pg->VoteNo(true);
  auto req = Request("t-no");
  req.caller_waits_phase2 = true;
  auto r = tm->Submit(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(WaitFinal("t-no").state, co::TxnState::kAborted);
  EXPECT_EQ(redis->prepares(), redis_prepares);
  ExpectAtomic("t-no", false);
}

// A quick participant that turns slow is called through the pool again (in parallel with the
// others) once its recent calls take longer than inline_calls_under: a call counts as at most
// 4 × the limit, so one slow call does not flip it, and a few do.
TEST_F(EngineTest, AQuickParticipantTurnedSlowIsCalledThroughThePoolAgain) {
  cfg.inline_calls_under = 20ms;
  Start();
  WarmUp(8);
  // One slow call: a refused prepare of 300 ms (its abort is quick). It counts as 80 ms and
  // leaves the mean at ~10 ms, still quick; uncapped it would be ~33 ms.
  pg->call_delay = 300ms;
  pg->VoteNo(true);
  ASSERT_TRUE(tm->Submit(Request("t-once", {"pg"})).ok());
  EXPECT_EQ(WaitFinal("t-once").state, co::TxnState::kAborted);
  pg->VoteNo(false);
  const auto pg_then_redis = [&](const std::string& gid) {
    pg->prepare_gate.Close();
    auto submit = std::async(std::launch::async, [&, gid] { return tm->Submit(Request(gid)); });
    EXPECT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
    const bool redis_first =
        Eventually([&] { return redis->StateOf(Id(gid, "b1")) == FakeState::kPrepared; }, 100ms);
    pg->prepare_gate.Open();
    EXPECT_TRUE(submit.get().ok());
    EXPECT_EQ(WaitFinal(gid).state, co::TxnState::kCommitted);
    return !redis_first;
  };
  pg->call_delay = 0us;
  EXPECT_TRUE(pg_then_redis("t-still-quick")) << "one slow call made pg slow";
  pg->call_delay = 100ms;
  for (const char* gid : {"t-slow1", "t-slow2"}) {  // 4 slow calls
    auto slow = Request(gid);
    slow.caller_waits_phase2 = true;
    ASSERT_TRUE(tm->Submit(slow).ok());
    EXPECT_EQ(WaitFinal(gid).state, co::TxnState::kCommitted);
  }
  pg->call_delay = 0us;
  EXPECT_FALSE(pg_then_redis("t-after")) << "redis waited for pg: pg was still called here";
}

// The engine's threads carry names (top -H, perf, gdb): every pool thread and the timer thread.
TEST_F(EngineTest, TheEnginesThreadsAreNamed) {
  Start();
  std::map<std::string, int> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    ++names[name];
  }
  EXPECT_EQ(names["txc-worker"], static_cast<int>(cfg.worker_threads));
  EXPECT_EQ(names["txc-timers"], 1);
}

TEST_F(EngineTest, NonRetryablePrepareErrorAborts) {
  pg->FailPrepares(Code::kInvalidArgument, 1);
  Start();
  auto r = tm->Submit(Request("t-err"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(WaitFinal("t-err").state, co::TxnState::kAborted);
  ExpectAtomic("t-err", false);
  EXPECT_EQ(pg->prepares(), 1);
}

TEST_F(EngineTest, RetryablePrepareErrorIsRetriedWithinTimeout) {
  pg->FailPrepares(Code::kUnavailable, 2);
  Start();
  auto r = tm->Submit(Request("t-retry-prep"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(WaitFinal("t-retry-prep").state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->prepares(), 3);
  ExpectAtomic("t-retry-prep", true);
}

TEST_F(EngineTest, Phase2RetriedUntilAcknowledged) {
  redis->FailCommits(Code::kUnavailable, 3);
  Start();
  ASSERT_TRUE(tm->Submit(Request("t-p2")).ok());
  co::TxnView v = WaitFinal("t-p2");
  EXPECT_EQ(v.state, co::TxnState::kCommitted);
  EXPECT_EQ(redis->commits(), 4);
  EXPECT_EQ(v.branches[1].attempts, 4u);
  ExpectAtomic("t-p2", true);
}

TEST_F(EngineTest, Phase2StateVisibleAndRetryNowSkipsBackoff) {
  cfg.phase2_backoff = BackoffPolicy{30s, 30s, 2.0, 30s};  // the next retry is 30 s away
  redis->FailCommits(Code::kUnavailable, 1);
  Start();
  ASSERT_TRUE(tm->Submit(Request("t-now")).ok());
  ASSERT_TRUE(Eventually([&] {
    auto v = tm->Get("t-now");
    return v.ok() && v->branches[1].attempts == 1 && !v->branches[1].last_error.empty();
  }));
  auto v = tm->Get("t-now");
  EXPECT_EQ(v->state, co::TxnState::kCommitting);
  EXPECT_NE(v->branches[1].last_error.find("UNAVAILABLE"), std::string::npos);
  EXPECT_EQ(tm->List(co::TxnState::kCommitting, 10).size(), 1u);
  ASSERT_TRUE(tm->RetryNow("t-now").ok());
  EXPECT_EQ(WaitFinal("t-now").state, co::TxnState::kCommitted);
  EXPECT_EQ(tm->RetryNow("nope").code(), Code::kNotFound);
}

TEST_F(EngineTest, ThrowingParticipantCountsAsAFailedCall) {
  redis->throw_commits = 2;
  Start();
  ASSERT_TRUE(tm->Submit(Request("t-throw")).ok());
  EXPECT_EQ(WaitFinal("t-throw").state, co::TxnState::kCommitted);
  EXPECT_EQ(tm->metrics().branch_calls["redis"]["commit.error"], 2u);
  ExpectAtomic("t-throw", true);
}

TEST_F(EngineTest, CircuitBreakerOpensAndRecovers) {
  cfg.breaker_failures = 3;
  redis->FailCommits(Code::kUnavailable, -1);
  Start();
  ASSERT_TRUE(tm->Submit(Request("t-cb")).ok());
  ASSERT_TRUE(
      Eventually([&] { return tm->metrics().branch_calls["redis"]["commit.fast_fail"] >= 3; }));
  EXPECT_EQ(redis->commits(), 3);  // open: later attempts fail fast without a call
  EXPECT_TRUE(tm->metrics().breaker_open["redis"]);
  redis->FailCommits(Code::kOk, 0);
  clock.Advance(1s);  // cool-down over: one half-open probe goes through and succeeds
  EXPECT_EQ(WaitFinal("t-cb").state, co::TxnState::kCommitted);
  EXPECT_EQ(redis->commits(), 4);
  EXPECT_FALSE(tm->metrics().breaker_open["redis"]);
}

TEST_F(EngineTest, SlowParticipantDoesNotDelayOthers) {
  pg->commit_gate.Close();
  Start();
  for (int i = 0; i < 2; ++i) {  // fills pg's concurrency (2) with stuck commits
    ASSERT_TRUE(tm->Submit(Request("t-slow" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(Eventually([&] { return pg->commit_gate.waiting() == 2; }));
  for (int i = 0; i < 5; ++i) {
    const std::string gid = "t-fast" + std::to_string(i);
    ASSERT_TRUE(tm->Submit(Request(gid, {"redis"})).ok());
    EXPECT_EQ(WaitFinal(gid).state, co::TxnState::kCommitted);
  }
  EXPECT_EQ(pg->commit_gate.waiting(), 2);
  EXPECT_EQ(tm->Get("t-slow0")->state, co::TxnState::kCommitting);
  // A new pg branch waits in pg's bounded queue; it does not take another worker.
  auto queued = Request("t-queued", {"pg"});
  queued.timeout = 50ms;
  auto q = tm->Submit(queued);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(q->txn.state == co::TxnState::kAborting || q->txn.state == co::TxnState::kAborted);
  EXPECT_EQ(pg->commit_gate.waiting(), 2);
  pg->commit_gate.Open();
  EXPECT_EQ(WaitFinal("t-queued").state, co::TxnState::kAborted);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(WaitFinal("t-slow" + std::to_string(i)).state, co::TxnState::kCommitted);
  }
}

TEST_F(EngineTest, InFlightLimitGivesResourceExhausted) {
  cfg.max_in_flight = 1;
  pg->prepare_gate.Close();
  Start();
  auto first = std::async(std::launch::async, [&] { return tm->Submit(Request("t-lim1")); });
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  auto second = tm->Submit(Request("t-lim2"));
  EXPECT_EQ(second.status().code(), Code::kResourceExhausted) << second.status();
  pg->prepare_gate.Open();
  ASSERT_TRUE(first.get().ok());
  EXPECT_EQ(WaitFinal("t-lim1").state, co::TxnState::kCommitted);
  EXPECT_TRUE(tm->Submit(Request("t-lim3")).ok());
}

TEST_F(EngineTest, BadRequestsAreRejectedAndNothingIsLogged) {
  cfg.max_branches = 2;
  Start();
  auto expect_invalid = [&](co::TxnRequest r, const std::string& what) {
    auto res = tm->Submit(r);
    EXPECT_EQ(res.status().code(), Code::kInvalidArgument) << what << ": " << res.status();
    EXPECT_FALSE(res.status().message().empty());
  };
  expect_invalid(co::TxnRequest{}, "no branches");
  expect_invalid(Request("t-bad", {"pg", "redis", "pg"}), "too many branches");
  expect_invalid(Request("t-bad", {"mysql"}), "unknown participant");
  expect_invalid(Request("bad gid!"), "bad gid");
  auto bad_action = Request("t-bad");
  bad_action.branches[0].action = "bad";
  expect_invalid(bad_action, "participant validation");
  auto dup = Request("t-bad");
  dup.branches[0].branch = dup.branches[1].branch = "x";
  expect_invalid(dup, "duplicate branch");
  auto bad_branch = Request("t-bad");
  bad_branch.branches[0].branch = "no/slash";
  expect_invalid(bad_branch, "bad branch id");
  auto long_key = Request("t-bad");
  long_key.idempotency_key = std::string(256, 'k');
  expect_invalid(long_key, "idempotency key too long");
  auto zero_timeout = Request("t-bad");
  zero_timeout.timeout = 0ms;
  expect_invalid(zero_timeout, "timeout");
  EXPECT_EQ(store->record_count(), 0u);
  EXPECT_EQ(pg->prepares() + redis->prepares(), 0);

  ASSERT_TRUE(tm->Submit(Request("t-dup")).ok());
  EXPECT_EQ(tm->Submit(Request("t-dup")).status().code(), Code::kConflict);
  EXPECT_EQ(tm->Get("missing").status().code(), Code::kNotFound);
}

TEST_F(EngineTest, WalFailureAtBeginIsFailStop) {
  Start();
  log->FailAppendAfter(1);
  auto r = tm->Submit(Request("t-wal"));
  EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status();
  EXPECT_FALSE(tm->ready());
  EXPECT_FALSE(tm->health().ok());
  EXPECT_EQ(pg->prepares() + redis->prepares(), 0);
  EXPECT_EQ(tm->Submit(Request("t-wal2")).status().code(), Code::kUnavailable);
  EXPECT_EQ(tm->BeginOpen(co::OpenRequest{}).status().code(), Code::kUnavailable);
}

TEST_F(EngineTest, WalFailureAtDecisionNeverReportsCommitted) {
  Start();
  log->FailAppendAfter(2);  // BEGIN ok, COMMIT fails
  auto r = tm->Submit(Request("t-wal-dec"));
  EXPECT_EQ(r.status().code(), Code::kUnknownOutcome) << r.status();
  EXPECT_FALSE(tm->ready());
  EXPECT_EQ(pg->commits() + redis->commits(), 0);
  Restart();  // the decision never became durable: presumed abort
  EXPECT_EQ(WaitFinal("t-wal-dec").state, co::TxnState::kAborted);
  ExpectAtomic("t-wal-dec", false);
}

TEST_F(EngineTest, StartRejectsBadConfig) {
  co::RecoveredState state;
  auto opened = MemoryLog::Open(store, state.Visitor());
  ASSERT_TRUE(opened.ok());
  cfg.coordinator_id = "bad id";
  auto r =
      co::TransactionManager::Start(cfg, {pg, redis}, *opened, std::move(state), clock, random);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  co::RecoveredState state2;
  cfg.coordinator_id = "c1";
  auto twice =
      co::TransactionManager::Start(cfg, {pg, pg}, *opened, std::move(state2), clock, random);
  EXPECT_EQ(twice.status().code(), Code::kInvalidArgument);
  co::RecoveredState state3;
  cfg.max_idempotency_keys = 0;
  auto no_keys =
      co::TransactionManager::Start(cfg, {pg, redis}, *opened, std::move(state3), clock, random);
  EXPECT_EQ(no_keys.status().code(), Code::kInvalidArgument);
  EXPECT_NE(no_keys.status().message().find("max_idempotency_keys"), std::string::npos);
}

}  // namespace
}  // namespace txcoord::testing
