// Idempotency keys (same body, other body, concurrent, after restart, expiry) and open
// (XA-style) transactions.
#include <future>

#include "fixture.h"

namespace txcoord::testing {
namespace {

co::TxnRequest Keyed(const std::string& key, const std::string& amount = "10") {
  co::TxnRequest r;
  r.idempotency_key = key;
  for (const char* p : {"pg", "redis"}) {
    r.branches.push_back(co::BranchRequest{p, "transfer", {{"amount", amount}}, ""});
  }
  return r;
}

// An open transaction with an idempotency key that stays undecided for the test's length.
co::OpenRequest KeyedOpen(const std::string& gid, const std::string& key) {
  co::OpenRequest r;
  r.gid = gid;
  r.idempotency_key = key;
  r.timeout = 20h;
  return r;
}

TEST_F(EngineTest, SameKeySameBodyReturnsTheSameAnswer) {
  Start();
  auto a = tm->Submit(Keyed("k1"));
  ASSERT_TRUE(a.ok()) << a.status();
  WaitFinal(a->txn.gid);
  auto b = tm->Submit(Keyed("k1"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->match, co::IdempotencyMatch::kReplayed);
  EXPECT_EQ(b->txn.gid, a->txn.gid);
  EXPECT_EQ(b->txn.state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->prepares(), 1);
}

TEST_F(EngineTest, SameKeyDifferentBodyIsADistinctError) {
  Start();
  ASSERT_TRUE(tm->Submit(Keyed("k2")).ok());
  auto b = tm->Submit(Keyed("k2", "99"));
  EXPECT_EQ(b.status().code(), Code::kConflict);
  EXPECT_TRUE(co::IsIdempotencyMismatch(b.status())) << b.status();
  EXPECT_FALSE(co::IsIdempotencyMismatch(Conflict("transaction x already exists")));
  EXPECT_EQ(pg->prepares(), 1);
}

TEST_F(EngineTest, SameKeyWhileRunningReportsInProgress) {
  pg->prepare_gate.Close();
  Start();
  auto first = std::async(std::launch::async, [&] { return tm->Submit(Keyed("k3")); });
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  auto second = tm->Submit(Keyed("k3"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->match, co::IdempotencyMatch::kInProgress);
  pg->prepare_gate.Open();
  auto a = first.get();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->txn.gid, second->txn.gid);
  EXPECT_EQ(WaitFinal(second->txn.gid).state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->prepares(), 1);
}

TEST_F(EngineTest, IdempotencySurvivesRestartAndCheckpoint) {
  Start();
  auto a = tm->Submit(Keyed("k4"));
  ASSERT_TRUE(a.ok());
  WaitFinal(a->txn.gid);
  ASSERT_TRUE(Eventually([&] { return events->First("wal:END") >= 0; }));
  Restart();
  auto b = tm->Submit(Keyed("k4"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->match, co::IdempotencyMatch::kReplayed);
  EXPECT_EQ(b->txn.gid, a->txn.gid);
  // The lazy END may be lost in the crash: then recovery commits the branches again first.
  EXPECT_EQ(WaitFinal(a->txn.gid).state, co::TxnState::kCommitted);
  EXPECT_TRUE(co::IsIdempotencyMismatch(tm->Submit(Keyed("k4", "5")).status()));
  ASSERT_TRUE(tm->CheckpointNow().ok());
  Restart();
  auto c = tm->Submit(Keyed("k4"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->match, co::IdempotencyMatch::kReplayed);
  EXPECT_EQ(c->txn.gid, a->txn.gid);
  EXPECT_EQ(pg->prepares(), 1);
}

TEST_F(EngineTest, IdempotencyRecordsExpireAfterTheHorizon) {
  cfg.idempotency_horizon = 1h;
  Start();
  auto a = tm->Submit(Keyed("k5"));
  ASSERT_TRUE(a.ok());
  WaitFinal(a->txn.gid);
  clock.Advance(1h + 1ms);
  ASSERT_TRUE(Eventually([&] {  // the housekeeping tick drops the record
    auto r = tm->Submit(Keyed("k5"));
    return r.ok() && r->match == co::IdempotencyMatch::kNew;
  }));
  EXPECT_EQ(pg->prepares(), 2);
}

// The horizon counts only for finished transactions: an undecided one keeps its key however old
// (the expiry queue puts it back), and loses it once finished and past the horizon.
TEST_F(EngineTest, IdempotencyRecordOfALiveTransactionOutlivesTheHorizon) {
  cfg.idempotency_horizon = 1h;
  Start();
  co::OpenRequest req = KeyedOpen("xa-live", "k-live");
  ASSERT_TRUE(tm->BeginOpen(req).ok());
  clock.Advance(2h);
  ASSERT_TRUE(tm->CheckpointNow().ok());  // runs the expiry, as every tick does
  auto again = tm->BeginOpen(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->match, co::IdempotencyMatch::kNew);
  EXPECT_EQ(again->txn.gid, "xa-live");
  ASSERT_TRUE(tm->Abort("xa-live", "test").ok());
  WaitFinal("xa-live");
  clock.Advance(1h + 1ms);  // the record's age, not its transaction's end, counts
  ASSERT_TRUE(tm->CheckpointNow().ok());
  req.gid = "xa-live-2";
  auto fresh = tm->BeginOpen(req);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->match, co::IdempotencyMatch::kNew);
}

// Beyond max_idempotency_keys the oldest finished records go before their horizon, counted; an
// undecided transaction keeps its key however many come after it (it waits at the back).
TEST_F(EngineTest, IdempotencyKeysBeyondTheCapEvictTheOldestFinished) {
  cfg.max_idempotency_keys = 2;
  Start();
  const co::OpenRequest live = KeyedOpen("cap-live", "cap-live");
  ASSERT_TRUE(tm->BeginOpen(live).ok());
  std::vector<std::string> gids;
  for (int i = 0; i < 3; ++i) {
    auto r = tm->Submit(Keyed("cap-" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.status();
    gids.push_back(r->txn.gid);
    WaitFinal(r->txn.gid);
  }
  EXPECT_EQ(tm->metrics().idempotency_keys, 2u);
  EXPECT_EQ(tm->metrics().idempotency_evicted, 2u);
  auto newest = tm->Submit(Keyed("cap-2"));
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(newest->match, co::IdempotencyMatch::kReplayed);
  EXPECT_EQ(newest->txn.gid, gids[2]);
  auto kept = tm->BeginOpen(live);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_NE(kept->match, co::IdempotencyMatch::kNew);
  EXPECT_EQ(kept->txn.gid, "cap-live");
  auto oldest = tm->Submit(Keyed("cap-0"));  // forgotten: runs again, as a new transaction
  ASSERT_TRUE(oldest.ok()) << oldest.status();
  EXPECT_EQ(oldest->match, co::IdempotencyMatch::kNew);
  EXPECT_NE(oldest->txn.gid, gids[0]);
  EXPECT_EQ(pg->prepares(), 4);
  ASSERT_TRUE(tm->CheckpointNow().ok());  // the checkpoint holds the kept records only
  Restart();
  EXPECT_EQ(tm->metrics().idempotency_keys, 2u);
}

// Between the slices of idempotency records and the gate (fault point callback), one keyed
// transaction is admitted and one that was live finishes: the checkpoint must hold both as they
// are at the cut, since it drops their BEGIN and END.
TEST_F(EngineTest, KeysChangedBeforeTheCheckpointGateAreWrittenCurrent) {
  Start();
  pg->commit_gate.Close();
  auto finishing = tm->Submit(Keyed("gate-finishing"));  // decided; phase 2 held
  ASSERT_TRUE(finishing.ok()) << finishing.status();
  std::string admitted_gid;
  fault::ScopedFault window("coordinator.checkpoint.before_gate", fault::Spec::Callback([&] {
                              pg->commit_gate.Open();
                              WaitFinal(finishing->txn.gid);
                              auto r = tm->Submit(Keyed("gate-admitted"));
                              ASSERT_TRUE(r.ok()) << r.status();
                              admitted_gid = r->txn.gid;
                              WaitFinal(admitted_gid);
                            }));
  ASSERT_TRUE(tm->CheckpointNow().ok());
  {
    std::lock_guard<std::mutex> lock(store->mu);
    ASSERT_TRUE(store->records.empty()) << "both transactions' records went with the checkpoint";
  }
  Restart();
  for (const auto& [key, gid] : {std::pair{std::string("gate-finishing"), finishing->txn.gid},
                                 std::pair{std::string("gate-admitted"), admitted_gid}}) {
    auto again = tm->Submit(Keyed(key));
    ASSERT_TRUE(again.ok()) << key << ": " << again.status();
    EXPECT_EQ(again->match, co::IdempotencyMatch::kReplayed) << key;
    EXPECT_EQ(again->txn.gid, gid) << key;
    EXPECT_EQ(again->txn.state, co::TxnState::kCommitted) << key;
  }
  EXPECT_EQ(pg->prepares(), 2);
}

// A checkpoint serializes the idempotency records a slice at a time while transactions go on,
// then rewrites under the gate the keys added or finished meanwhile. Keyed transactions
// submitted from 4 threads while one of them checkpoints every 20 of its own (more keys than
// one slice by the end) must all be found, with their first transaction, after a crash.
TEST_F(EngineTest, KeysAddedWhileACheckpointIsWrittenSurviveACrash) {
  Start();
  std::vector<std::vector<std::pair<std::string, std::string>>> acked(4);  // key, gid
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 1500; ++i) {
        const std::string key = "slice-" + std::to_string(c) + "-" + std::to_string(i);
        auto r = tm->Submit(Keyed(key));
        if (r.ok()) acked[static_cast<std::size_t>(c)].emplace_back(key, r->txn.gid);
        if (c == 0 && i % 20 == 19) {
          EXPECT_TRUE(tm->CheckpointNow().ok());
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  Restart();
  std::size_t n = 0;
  for (const auto& list : acked) {
    for (const auto& [key, gid] : list) {
      auto again = tm->Submit(Keyed(key));
      ASSERT_TRUE(again.ok()) << key << ": " << again.status();
      ASSERT_NE(again->match, co::IdempotencyMatch::kNew) << key;
      ASSERT_EQ(again->txn.gid, gid) << key;
      ++n;
    }
  }
  EXPECT_EQ(n, 6000u);
}

TEST_F(EngineTest, OpenTransactionRegisterAndCommit) {
  Start();
  co::OpenRequest req;
  req.gid = "xa-1";
  auto r = tm->BeginOpen(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->txn.state, co::TxnState::kActive);
  EXPECT_TRUE(r->txn.open);
  pg->SetPrepared(Id("xa-1", "p"));  // the participant service prepared its own work
  redis->SetPrepared(Id("xa-1", "r"));
  ASSERT_TRUE(tm->RegisterBranch("xa-1", "pg", "p").ok());
  ASSERT_TRUE(tm->RegisterBranch("xa-1", "redis", "r").ok());
  EXPECT_TRUE(tm->RegisterBranch("xa-1", "pg", "p").ok());  // idempotent
  EXPECT_EQ(tm->RegisterBranch("xa-1", "mysql", "m").code(), Code::kInvalidArgument);
  EXPECT_EQ(tm->RegisterBranch("xa-1", "pg", "bad/id").code(), Code::kInvalidArgument);
  EXPECT_EQ(tm->RegisterBranch("nope", "pg", "p").code(), Code::kNotFound);
  auto c = tm->Commit("xa-1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(WaitFinal("xa-1").state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->StateOf(Id("xa-1", "p")), FakeState::kCommitted);
  EXPECT_EQ(redis->StateOf(Id("xa-1", "r")), FakeState::kCommitted);
  EXPECT_EQ(tm->RegisterBranch("xa-1", "pg", "late").code(), Code::kFailedPrecondition);
  EXPECT_TRUE(tm->Commit("xa-1").ok());  // idempotent
  EXPECT_EQ(tm->Abort("xa-1", "").status().code(), Code::kConflict);
  EXPECT_LT(events->First("wal:REGISTER xa-1/r"), events->First("wal:COMMIT xa-1"));
}

TEST_F(EngineTest, OpenTransactionAbortByClient) {
  Start();
  co::OpenRequest req;
  req.gid = "xa-2";
  ASSERT_TRUE(tm->BeginOpen(req).ok());
  pg->SetPrepared(Id("xa-2", "p"));
  ASSERT_TRUE(tm->RegisterBranch("xa-2", "pg", "p").ok());
  auto a = tm->Abort("xa-2", "client changed its mind");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(WaitFinal("xa-2").state, co::TxnState::kAborted);
  EXPECT_EQ(pg->StateOf(Id("xa-2", "p")), FakeState::kAborted);
  EXPECT_EQ(tm->Commit("xa-2").status().code(), Code::kAborted);
}

TEST_F(EngineTest, OpenTransactionTimesOut) {
  Start();
  co::OpenRequest req;
  req.gid = "xa-3";
  req.timeout = 2s;
  ASSERT_TRUE(tm->BeginOpen(req).ok());
  pg->SetPrepared(Id("xa-3", "p"));
  ASSERT_TRUE(tm->RegisterBranch("xa-3", "pg", "p").ok());
  clock.Advance(2s);
  co::TxnView v = WaitFinal("xa-3");
  EXPECT_EQ(v.state, co::TxnState::kAborted);
  EXPECT_NE(v.reason.find("timed out"), std::string::npos) << v.reason;
  EXPECT_EQ(pg->StateOf(Id("xa-3", "p")), FakeState::kAborted);
}

TEST_F(EngineTest, OpenTransactionSurvivesRestart) {
  Start();
  co::OpenRequest req;
  req.gid = "xa-4";
  req.timeout = 60s;
  ASSERT_TRUE(tm->BeginOpen(req).ok());
  pg->SetPrepared(Id("xa-4", "p"));
  ASSERT_TRUE(tm->RegisterBranch("xa-4", "pg", "p").ok());
  Restart();
  auto v = tm->Get("xa-4");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->state, co::TxnState::kActive);
  ASSERT_EQ(v->branches.size(), 1u);
  ASSERT_TRUE(tm->Commit("xa-4").ok());
  EXPECT_EQ(WaitFinal("xa-4").state, co::TxnState::kCommitted);
  EXPECT_EQ(pg->StateOf(Id("xa-4", "p")), FakeState::kCommitted);
}

TEST_F(EngineTest, OpenTransactionPastItsTimeoutIsAbortedByRecovery) {
  cfg.tick = 0ms;  // only recovery may abort it
  Start();
  co::OpenRequest req;
  req.gid = "xa-5";
  req.timeout = 10s;
  ASSERT_TRUE(tm->BeginOpen(req).ok());
  pg->SetPrepared(Id("xa-5", "p"));
  ASSERT_TRUE(tm->RegisterBranch("xa-5", "pg", "p").ok());
  Crash();
  clock.Advance(11s);
  Start();
  co::TxnView v = WaitFinal("xa-5");
  EXPECT_EQ(v.state, co::TxnState::kAborted);
  EXPECT_EQ(pg->StateOf(Id("xa-5", "p")), FakeState::kAborted);
}

TEST_F(EngineTest, WaitReturnsTheCurrentViewAtItsTimeout) {
  cfg.phase2_backoff = BackoffPolicy{30s, 30s, 2.0, 30s};
  redis->FailCommits(Code::kUnavailable, 1);
  Start();
  ASSERT_TRUE(tm->Submit(Request("t-wait")).ok());
  auto v = tm->Wait("t-wait", 20ms);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->state, co::TxnState::kCommitting);
  EXPECT_EQ(tm->Wait("nope", 1ms).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace txcoord::testing
