// Recovery from each WAL state, simulated crashes at every named fault point, the orphan scan,
// checkpoints and idempotent replay.
#include <atomic>
#include <thread>
#include <vector>

#include "fixture.h"

namespace txcoord::testing {
namespace {

class RecoveryTest : public EngineTest {
 protected:
  void Put(const co::v1::Record& r) {
    std::lock_guard<std::mutex> lock(store->mu);
    store->records.emplace_back(store->next_lsn++, r.SerializeAsString());
  }
  // BEGIN of a two-branch (pg b0, redis b1) transaction, both branches prepared in the fakes.
  void PutBegin(const std::string& gid) {
    co::v1::Record r;
    co::v1::Begin* b = r.mutable_begin();
    b->set_gid(gid);
    b->set_mode("2pc");
    b->set_timeout_ms(5000);
    for (auto [p, br] : {std::pair{"pg", "b0"}, std::pair{"redis", "b1"}}) {
      co::v1::Branch* x = b->add_branches();
      x->set_participant(p);
      x->set_action("transfer");
      x->set_branch(br);
    }
    Put(r);
    pg->SetPrepared(Id(gid, "b0"));
    redis->SetPrepared(Id(gid, "b1"));
  }
  void PutDecision(const std::string& gid, bool commit) {
    co::v1::Record r;
    r.mutable_decision()->set_gid(gid);
    r.mutable_decision()->set_outcome(commit ? co::v1::Decision::COMMIT : co::v1::Decision::ABORT);
    Put(r);
  }
  void PutEnd(const std::string& gid) {
    co::v1::Record r;
    r.mutable_end()->set_gid(gid);
    Put(r);
  }
  // n transactions "<prefix><i>", each with its own long Idempotency-Key (what makes a
  // snapshot large), all finished.
  void SubmitKeyedAndFinish(const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      co::TxnRequest r = Request(prefix + std::to_string(i));
      r.idempotency_key = "key-for-a-long-lived-client-retry-" + prefix + std::to_string(i);
      ASSERT_TRUE(tm->Submit(r).ok());
    }
    ASSERT_TRUE(Eventually([&] { return tm->metrics().in_flight == 0u; }));
  }
};

TEST_F(RecoveryTest, BeginOnlyIsAbortedEverywhere) {
  PutBegin("r-begin");
  Start();
  EXPECT_TRUE(tm->ready());
  EXPECT_EQ(WaitFinal("r-begin").state, co::TxnState::kAborted);
  ExpectAtomic("r-begin", false);
}

TEST_F(RecoveryTest, CommitWithoutEndIsCommittedEverywhere) {
  PutBegin("r-commit");
  PutDecision("r-commit", true);
  redis->FailCommits(Code::kUnavailable, 2);  // re-sent until acknowledged
  Start();
  EXPECT_EQ(WaitFinal("r-commit").state, co::TxnState::kCommitted);
  ExpectAtomic("r-commit", true);
}

TEST_F(RecoveryTest, AbortWithoutEndIsAborted) {
  PutBegin("r-abort");
  PutDecision("r-abort", false);
  Start();
  EXPECT_EQ(WaitFinal("r-abort").state, co::TxnState::kAborted);
  ExpectAtomic("r-abort", false);
}

TEST_F(RecoveryTest, EndedTransactionSendsNothing) {
  PutBegin("r-end");
  PutDecision("r-end", true);
  PutEnd("r-end");
  Start();
  EXPECT_TRUE(tm->ready());
  auto v = tm->Get("r-end");  // kept for Get, finished: nothing to send
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state, co::TxnState::kCommitted);
  EXPECT_EQ(tm->metrics().in_flight, 0u);
  EXPECT_EQ(pg->commits() + pg->aborts() + redis->commits() + redis->aborts(), 0);
}

// The newest max_finished_kept finished transactions come back after a restart, from the log
// (ENDs replayed) and from a checkpoint; older ones are forgotten as they were in memory.
TEST_F(RecoveryTest, FinishedTransactionsAreKeptAcrossRestartUpToMaxFinishedKept) {
  cfg.max_finished_kept = 3;
  Start();
  for (int i = 0; i < 5; ++i) {
    redis->VoteNo(i == 4);  // the newest aborts, with a reason
    ASSERT_TRUE(tm->Submit(Request("kept-" + std::to_string(i))).ok());
    WaitFinal("kept-" + std::to_string(i));
  }
  const int aborts = pg->aborts() + redis->aborts();
  const std::string reason = tm->Get("kept-4")->reason;
  ASSERT_FALSE(reason.empty());
  Fence();
  for (const bool checkpoint : {false, true}) {
    SCOPED_TRACE(checkpoint ? "from a checkpoint" : "from the log");
    RestartFrom(checkpoint);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(tm->Get("kept-" + std::to_string(i)).status().code(), Code::kNotFound) << i;
    }
    EXPECT_EQ(tm->Get("kept-2")->state, co::TxnState::kCommitted);
    EXPECT_EQ(tm->Get("kept-3")->state, co::TxnState::kCommitted);
    auto aborted = tm->Get("kept-4");
    ASSERT_TRUE(aborted.ok()) << aborted.status();
    EXPECT_EQ(aborted->state, co::TxnState::kAborted);
    EXPECT_EQ(aborted->reason, reason);
    EXPECT_EQ(tm->List(std::nullopt, 100).size(), 4u);  // 3 kept and the fence
    EXPECT_EQ(tm->metrics().in_flight, 1u);
    EXPECT_EQ(tm->Submit(Request("kept-3")).status().code(), Code::kConflict)
        << "a kept gid is still taken";
  }
  EXPECT_EQ(pg->commits() + redis->commits(), 8) << "nothing finished was sent again";
  EXPECT_EQ(pg->aborts() + redis->aborts(), aborts);
}

// More recovered transactions than one resume slice (256): readiness does not wait for them,
// and every one is finished, each the way its log says.
TEST_F(RecoveryTest, ManyRecoveredTransactionsAreFinishedInSlicesAfterReadiness) {
  constexpr int kTxns = 700;
  for (int i = 0; i < kTxns; ++i) {
    const std::string gid = "r-many-" + std::to_string(i);
    PutBegin(gid);
    if (i % 3 != 0) PutDecision(gid, i % 3 == 1);  // a third undecided, a third each way
  }
  Start();
  EXPECT_TRUE(tm->ready());
  for (int i = 0; i < kTxns; ++i) {
    const std::string gid = "r-many-" + std::to_string(i);
    const bool commit = i % 3 == 1;
    ASSERT_EQ(WaitFinal(gid).state, commit ? co::TxnState::kCommitted : co::TxnState::kAborted)
        << gid;
    ExpectAtomic(gid, commit);
  }
  EXPECT_EQ(tm->metrics().in_flight, 0u);
}

TEST_F(RecoveryTest, ReadsWorkWhileRecoveryPhase2Runs) {
  PutBegin("r-slow");
  PutDecision("r-slow", true);
  pg->commit_gate.Close();
  Start();
  EXPECT_TRUE(tm->ready());
  auto v = tm->Get("r-slow");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->state, co::TxnState::kCommitting);
  EXPECT_EQ(tm->List(std::nullopt, 10).size(), 1u);
  pg->commit_gate.Open();
  EXPECT_EQ(WaitFinal("r-slow").state, co::TxnState::kCommitted);
}

TEST_F(RecoveryTest, CorruptRecordFailsReplay) {
  {
    std::lock_guard<std::mutex> lock(store->mu);
    store->records.emplace_back(store->next_lsn++, std::string("\xff\xff\xff", 3));
  }
  co::RecoveredState state;
  auto opened = MemoryLog::Open(store, state.Visitor());
  EXPECT_EQ(opened.status().code(), Code::kDataLoss);
}

struct CrashCase {
  const char* point;
  std::uint64_t hit;
  bool committed;  // the outcome recovery must reach
};

void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << c.point << "@" << c.hit;
}

class CrashTest : public RecoveryTest, public ::testing::WithParamInterface<CrashCase> {};

TEST_P(CrashTest, CrashAtFaultPointIsAllOrNothing) {
  const CrashCase& c = GetParam();
  Start();
  fault::Registry::Global().Arm(c.point, fault::Spec::Error(Code::kInternal).At(c.hit));
  auto r = tm->Submit(Request("crash-t"));
  ASSERT_TRUE(Eventually([&] { return !tm->ready(); })) << c.point;
  EXPECT_FALSE(r.ok() && r->txn.state == co::TxnState::kCommitted);
  Restart();
  co::TxnView v = WaitFinal("crash-t");
  EXPECT_EQ(v.state, c.committed ? co::TxnState::kCommitted : co::TxnState::kAborted) << c.point;
  ExpectAtomic("crash-t", c.committed);
  EXPECT_EQ(pg->prepared_count() + redis->prepared_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(FaultPoints, CrashTest,
                         ::testing::Values(CrashCase{"coordinator.after_begin_durable", 1, false},
                                           CrashCase{"coordinator.after_prepare_reply", 1, false},
                                           CrashCase{"coordinator.after_prepare_reply", 2, false},
                                           CrashCase{"coordinator.after_decision_durable", 1, true},
                                           CrashCase{"coordinator.after_commit_ack", 1, true},
                                           CrashCase{"coordinator.after_commit_ack", 2, true},
                                           CrashCase{"coordinator.before_end", 1, true}),
                         [](const ::testing::TestParamInfo<CrashCase>& p) {
                           std::string name = std::string(p.param.point).substr(12) + "_" +
                                              std::to_string(p.param.hit);
                           return name;
                         });

TEST_F(RecoveryTest, OrphanScanAbortsUnknownBranchOnlyAfterTwoScans) {
  Start();
  pg->SetPrepared(Id("ghost", "b0"));
  pg->SetPrepared(participant::BranchId{"other-coord", "theirs", "b0"});
  ASSERT_TRUE(tm->RunOrphanScan().ok());
  EXPECT_EQ(pg->StateOf(Id("ghost", "b0")), FakeState::kPrepared);
  clock.Advance(500ms);
  ASSERT_TRUE(tm->RunOrphanScan().ok());  // seen twice, but not far enough apart
  EXPECT_EQ(pg->StateOf(Id("ghost", "b0")), FakeState::kPrepared);
  clock.Advance(500ms);
  ASSERT_TRUE(tm->RunOrphanScan().ok());
  EXPECT_EQ(pg->StateOf(Id("ghost", "b0")), FakeState::kAborted);
  EXPECT_EQ(pg->StateOf(participant::BranchId{"other-coord", "theirs", "b0"}),
            FakeState::kPrepared);
}

TEST_F(RecoveryTest, OrphanScanNeverAbortsCommittedOrInFlight) {
  Start();
  ASSERT_TRUE(tm->Submit(Request("o-done")).ok());
  WaitFinal("o-done");
  pg->SetPrepared(Id("o-done", "b0"));  // the store still lists it (e.g. a lost commit)
  redis->prepare_gate.Close();          // o-live: pg prepared, redis prepare in flight
  std::thread submit([&] {
    auto req = Request("o-live");
    req.timeout = 30s;
    (void)tm->Submit(req);
  });
  ASSERT_TRUE(Eventually([&] { return pg->StateOf(Id("o-live", "b0")) == FakeState::kPrepared; }));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tm->RunOrphanScan().ok());
    clock.Advance(2s);
  }
  EXPECT_EQ(pg->StateOf(Id("o-done", "b0")), FakeState::kCommitted);  // re-committed
  EXPECT_EQ(pg->StateOf(Id("o-live", "b0")), FakeState::kPrepared);
  redis->prepare_gate.Open();
  submit.join();
  EXPECT_EQ(WaitFinal("o-live").state, co::TxnState::kCommitted);
}

TEST_F(RecoveryTest, PeriodicOrphanScanAndCheckpointRun) {
  cfg.orphan_scan_interval = 5ms;
  cfg.orphan_min_age = 0ms;  // two sightings, one interval apart
  cfg.checkpoint_interval = 5ms;
  Start();
  // A timed checkpoint is written only when records were appended since the last one.
  ASSERT_TRUE(tm->Submit(Request("periodic")).ok());
  pg->SetPrepared(Id("ghost2", "b0"));
  ASSERT_TRUE(Eventually([&] { return pg->StateOf(Id("ghost2", "b0")) == FakeState::kAborted; }));
  EXPECT_GE(tm->metrics().branch_calls["pg"]["orphan.abort.ok"], 1u);
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(store->mu);
    return store->checkpoint.has_value();
  }));
}

TEST_F(RecoveryTest, CheckpointThenReplayGivesTheSameState) {
  Start();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tm->Submit(Request("ck-" + std::to_string(i))).ok());
    WaitFinal("ck-" + std::to_string(i));
  }
  redis->FailCommits(Code::kUnavailable, -1);
  ASSERT_TRUE(tm->Submit(Request("ck-stuck")).ok());
  co::OpenRequest open;
  open.gid = "ck-open";
  open.timeout = 60s;
  ASSERT_TRUE(tm->BeginOpen(open).ok());
  pg->SetPrepared(Id("ck-open", "p"));
  ASSERT_TRUE(tm->RegisterBranch("ck-open", "pg", "p").ok());
  const std::size_t before = store->record_count();
  ASSERT_TRUE(tm->CheckpointNow().ok());
  EXPECT_EQ(store->record_count(), 0u);
  EXPECT_GE(store->dropped, before);
  Restart();
  EXPECT_EQ(tm->Get("ck-0")->state, co::TxnState::kCommitted);  // finished: kept, not live
  EXPECT_EQ(tm->Get("ck-stuck")->state, co::TxnState::kCommitting);
  EXPECT_EQ(tm->Get("ck-open")->state, co::TxnState::kActive);
  EXPECT_EQ(tm->Get("ck-open")->branches.size(), 1u);
  redis->FailCommits(Code::kOk, 0);
  EXPECT_EQ(WaitFinal("ck-stuck").state, co::TxnState::kCommitted);
  ExpectAtomic("ck-stuck", true);
  ASSERT_TRUE(tm->Commit("ck-open").ok());
  EXPECT_EQ(WaitFinal("ck-open").state, co::TxnState::kCommitted);
}

TEST_F(RecoveryTest, AutomaticCheckpointsKeepTheLogBounded) {
  cfg.checkpoint_every_records = 8;
  // Each checkpoint holds the kept finished transactions, and the byte rule waits for as many
  // bytes of records: with the default 10,000 kept, 20 transactions never make one due.
  cfg.max_finished_kept = 2;
  Start();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(tm->Submit(Request("auto-" + std::to_string(i))).ok());
    WaitFinal("auto-" + std::to_string(i));
  }
  ASSERT_TRUE(Eventually([&] { return store->record_count() < 16; }));
  EXPECT_GT(store->dropped, 0u);
  Restart();
  EXPECT_TRUE(tm->ready());
  // The last END is lazy and may be lost in the crash: recovery finishes that one again.
  EXPECT_LE(tm->metrics().in_flight, 1u);
  EXPECT_TRUE(Eventually([&] { return tm->metrics().in_flight == 0u; }));
}

// At most one checkpoint per checkpoint_every_records records, also with records completing
// concurrently. (The race this guards against — a completion counted before a checkpoint asked
// for another right after it — needs the real WAL's completions on its own thread to show up:
// twice the checkpoints under txbench. The memory log completes on the appender's thread.)
TEST_F(RecoveryTest, AutomaticCheckpointsComeOncePerInterval) {
  cfg.checkpoint_every_records = 10;
  cfg.worker_threads = 8;
  cfg.max_concurrent_per_participant = 8;
  Start();
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 25; ++i) {
        const std::string gid = "ck-" + std::to_string(c) + "-" + std::to_string(i);
        EXPECT_TRUE(tm->Submit(Request(gid)).ok());
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_TRUE(Eventually([&] { return tm->metrics().in_flight == 0u; }));
  std::lock_guard<std::mutex> lock(store->mu);
  const std::uint64_t records = store->dropped + store->records.size();  // 600: BEGIN, COMMIT, END
  EXPECT_GE(store->checkpoints, 1u);
  EXPECT_LE(store->checkpoints, records / 10 + 1) << records << " records";
}

// A snapshot that grows (here: idempotency records, ~100 bytes each, kept for 24 h) is rewritten
// only after the log grew by as many bytes: every checkpoint's size is paid for by the records
// appended since the one before, so all checkpoints together write at most the log's bytes plus
// the last snapshot — not one ever-larger snapshot per checkpoint_every_records records.
TEST_F(RecoveryTest, ALargeSnapshotIsRewrittenOnlyAfterAsManyBytesOfRecords) {
  cfg.checkpoint_every_records = 2;
  Start();
  ASSERT_NO_FATAL_FAILURE(SubmitKeyedAndFinish("big-", 150));
  EXPECT_EQ(tm->metrics().idempotency_keys, 150u);
  std::lock_guard<std::mutex> lock(store->mu);
  const std::uint64_t records = store->dropped + store->records.size();  // BEGIN, COMMIT, END
  EXPECT_GE(store->checkpoints, 2u);
  EXPECT_LT(store->checkpoints, records / 2 / 4) << records << " records";
  EXPECT_LE(store->checkpoint_bytes, store->appended_bytes + store->last_checkpoint_bytes);
}

// A restart resumes the byte rule where it was: the replayed checkpoint's size and the bytes
// logged after it count, so a few records after the restart do not rewrite a large snapshot.
TEST_F(RecoveryTest, TheByteRuleGoesOnAcrossARestart) {
  cfg.checkpoint_every_records = 2;
  Start();
  ASSERT_NO_FATAL_FAILURE(SubmitKeyedAndFinish("keep-", 150));
  ASSERT_TRUE(tm->CheckpointNow().ok());
  Restart();
  const std::uint64_t before = store->checkpoints;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(tm->Submit(Request("after-" + std::to_string(i))).ok());
  ASSERT_TRUE(Eventually([&] { return tm->metrics().in_flight == 0u; }));
  EXPECT_EQ(store->checkpoints, before) << "15 records are far fewer bytes than the snapshot";
}

// A snapshot the WAL refuses as too large (kInvalidArgument, before its cut) is skipped: the
// engine keeps working and keeps its log; a later checkpoint that fits goes through.
TEST_F(RecoveryTest, ACheckpointTooLargeForTheWalIsSkippedNotFatal) {
  Start();
  ASSERT_TRUE(tm->Submit(Request("huge-0")).ok());
  WaitFinal("huge-0");
  {
    std::lock_guard<std::mutex> lock(store->mu);
    store->max_snapshot_bytes = 1;
  }
  EXPECT_EQ(tm->CheckpointNow().code(), Code::kInvalidArgument);
  EXPECT_TRUE(tm->ready());
  EXPECT_TRUE(tm->health().ok()) << tm->health();
  ASSERT_TRUE(tm->Submit(Request("huge-1")).ok());
  EXPECT_EQ(WaitFinal("huge-1").state, co::TxnState::kCommitted);
  {
    std::lock_guard<std::mutex> lock(store->mu);
    EXPECT_EQ(store->checkpoints, 0u);
    store->max_snapshot_bytes = SIZE_MAX;
  }
  EXPECT_TRUE(tm->CheckpointNow().ok());
}

// A checkpoint serializes the live transactions a slice at a time while transactions go on, and
// writes again at the cut what changed meanwhile (docs/coordinator.md, "Checkpoints"). In the
// window before the gate (fault point callback): a live transaction finishes, an open one
// registers a branch, one is admitted and decided. The checkpoint drops their records, so it
// must hold each as it was at the cut: the finished one not at all.
TEST_F(RecoveryTest, LiveTransactionsChangedBeforeTheCheckpointGateAreWrittenCurrent) {
  Start();
  pg->commit_gate.Close();
  ASSERT_TRUE(tm->Submit(Request("win-finishing")).ok());  // decided; phase 2 held
  co::OpenRequest open;
  open.timeout = 60s;
  for (const char* gid : {"win-open", "win-untouched"}) {
    open.gid = gid;
    ASSERT_TRUE(tm->BeginOpen(open).ok());
  }
  pg->SetPrepared(Id("win-open", "p1"));
  ASSERT_TRUE(tm->RegisterBranch("win-open", "pg", "p1").ok());
  fault::ScopedFault window("coordinator.checkpoint.before_gate", fault::Spec::Callback([&] {
                              pg->commit_gate.Open();
                              EXPECT_EQ(WaitFinal("win-finishing").state, co::TxnState::kCommitted);
                              pg->SetPrepared(Id("win-open", "p2"));
                              EXPECT_TRUE(tm->RegisterBranch("win-open", "pg", "p2").ok());
                              redis->FailCommits(Code::kUnavailable,
                                                 -1);  // the admitted one stays in phase 2
                              auto r = tm->Submit(Request("win-admitted"));
                              EXPECT_TRUE(r.ok() && r->txn.state == co::TxnState::kCommitting);
                            }));
  ASSERT_TRUE(tm->CheckpointNow().ok());
  EXPECT_EQ(store->record_count(), 0u) << "every record went with the checkpoint";
  Restart();
  // Finished in the window: its live entry is dropped (Checkpoint.ended), its finished one
  // written at the cut.
  auto finishing = tm->Get("win-finishing");
  ASSERT_TRUE(finishing.ok()) << finishing.status();
  EXPECT_EQ(finishing->state, co::TxnState::kCommitted);
  auto reopened = tm->Get("win-open");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(reopened->state, co::TxnState::kActive);
  EXPECT_EQ(reopened->branches.size(), 2u);  // the entry at the cut replaces the earlier one
  EXPECT_EQ(tm->Get("win-untouched")->state, co::TxnState::kActive);
  auto admitted = tm->Get("win-admitted");
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->state, co::TxnState::kCommitting);
  EXPECT_EQ(tm->metrics().in_flight, 3u);
  redis->FailCommits(Code::kOk, 0);
  EXPECT_EQ(WaitFinal("win-admitted").state, co::TxnState::kCommitted);
  ExpectAtomic("win-admitted", true);
}

// A transaction leaving the live list moves the last one into its slot. Between two slices
// (fault point callback), the first transaction of the first slice ends: the last one, not
// serialized yet, moves into a slot already passed and must still be in the checkpoint.
TEST_F(RecoveryTest, ATransactionMovedInTheLiveListBetweenSlicesIsKept) {
  Start();
  co::OpenRequest open;
  open.timeout = 60s;
  constexpr int kOpen = 300;  // more than one slice (256)
  for (int i = 0; i < kOpen; ++i) {
    open.gid = "mv-" + std::to_string(i);
    ASSERT_TRUE(tm->BeginOpen(open).ok());
  }
  int between = 0;
  fault::ScopedFault slices("coordinator.checkpoint.between_slices", fault::Spec::Callback([&] {
                              if (between++ > 0) return;
                              EXPECT_TRUE(tm->Abort("mv-0", "").ok());
                              EXPECT_EQ(WaitFinal("mv-0").state, co::TxnState::kAborted);
                            }));
  ASSERT_TRUE(tm->CheckpointNow().ok());
  EXPECT_EQ(between, 1);
  EXPECT_EQ(store->record_count(), 0u);
  Restart();
  EXPECT_EQ(tm->Get("mv-0")->state, co::TxnState::kAborted);
  for (int i = 1; i < kOpen; ++i) {
    auto v = tm->Get("mv-" + std::to_string(i));
    ASSERT_TRUE(v.ok()) << "mv-" << i << ": " << v.status();
    EXPECT_EQ(v->state, co::TxnState::kActive) << "mv-" << i;
  }
  EXPECT_EQ(tm->metrics().in_flight, static_cast<std::uint64_t>(kOpen - 1));
}

// Open transactions registering branches, committing and aborting from 4 threads while a fifth
// checkpoints in a loop through the first three quarters of that work; then a crash. The last
// of those checkpoints and the records after it must give back every transaction as it was:
// the open ones with their branches, the finished ones finished.
TEST_F(RecoveryTest, LiveTransactionsChangingWhileCheckpointsAreWrittenComeBackAsTheyWere) {
  Start();
  constexpr int kThreads = 4, kPerThread = 500;  // 2,000 live: 8 slices per checkpoint
  constexpr int kTotal = kThreads * kPerThread;
  co::OpenRequest open;
  open.timeout = 600s;
  for (int i = 0; i < kTotal; ++i) {
    open.gid = "ch-" + std::to_string(i);
    ASSERT_TRUE(tm->BeginOpen(open).ok());
  }
  std::atomic<int> progress{0}, checkpoints{0};
  std::thread checkpointer([&] {
    while (progress.load() < kTotal * 3 / 4 || checkpoints.load() < 2) {
      EXPECT_TRUE(tm->CheckpointNow().ok());
      ++checkpoints;
    }
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kThreads; ++w) {
    workers.emplace_back([&, w] {
      for (int k = 0; k < kPerThread; ++k, ++progress) {
        const std::string gid = "ch-" + std::to_string(w * kPerThread + k);
        for (int b = 0; b < k % 3; ++b) {
          const std::string branch = "p" + std::to_string(b);
          pg->SetPrepared(Id(gid, branch));
          EXPECT_TRUE(tm->RegisterBranch(gid, "pg", branch).ok());
        }
        if (k % 5 == 1) {
          EXPECT_TRUE(tm->Commit(gid).ok());
        } else if (k % 5 == 2) {
          EXPECT_TRUE(tm->Abort(gid, "").ok());
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  checkpointer.join();
  const auto finishes = [](int k) { return k % 5 == 1 || k % 5 == 2; };
  for (int i = 0; i < kTotal; ++i) {
    if (finishes(i % kPerThread)) WaitFinal("ch-" + std::to_string(i));
  }
  open.gid = "ch-last";  // forced: makes the lazy ENDs before it durable
  ASSERT_TRUE(tm->BeginOpen(open).ok());
  Restart();
  for (int i = 0; i < kTotal; ++i) {
    const int k = i % kPerThread;
    const std::string gid = "ch-" + std::to_string(i);
    auto v = tm->Get(gid);
    ASSERT_TRUE(v.ok()) << gid << ": " << v.status();
    if (finishes(k)) {  // kept as it finished (max_finished_kept is 10,000)
      EXPECT_EQ(v->state, k % 5 == 1 ? co::TxnState::kCommitted : co::TxnState::kAborted) << gid;
      EXPECT_EQ(v->branches.size(), static_cast<std::size_t>(k % 3)) << gid;
      continue;
    }
    EXPECT_EQ(v->state, co::TxnState::kActive) << gid;
    EXPECT_EQ(v->branches.size(), static_cast<std::size_t>(k % 3)) << gid;
  }
  EXPECT_EQ(tm->metrics().in_flight, static_cast<std::uint64_t>(kTotal * 3 / 5 + 1));
}

TEST_F(RecoveryTest, ReplayAfterCheckpointIsIdempotent) {
  PutBegin("idem");
  PutDecision("idem", true);
  // A snapshot that already reflects BEGIN + COMMIT, then the same records replayed after it.
  co::RecoveredState first;
  {
    std::lock_guard<std::mutex> lock(store->mu);
    for (const auto& [lsn, body] : store->records) {
      ASSERT_TRUE(first.Apply(wal::ReplayedRecord{lsn, wal::RecordKind::kEntry, body}).ok());
    }
  }
  pg->commit_gate.Close();  // keep it in phase 2 so the snapshot holds it as committing
  Start();
  ASSERT_TRUE(tm->CheckpointNow().ok());
  {
    fault::ScopedFault no_end("coordinator.before_end", fault::Spec::Error(Code::kInternal));
    Crash();  // the blocked commits finish, but no END is written
  }
  PutBegin("idem");  // replayed again after the checkpoint: must not reset the decision
  PutDecision("idem", false);
  Start();
  EXPECT_EQ(WaitFinal("idem").state, co::TxnState::kCommitted);
  ExpectAtomic("idem", true);
  EXPECT_EQ(first.live_transactions(), 1u);
}

}  // namespace
}  // namespace txcoord::testing
