#pragma once
// Shared set-up for the engine tests: two fake participants ("pg", "redis"), a memory log whose
// store survives simulated crashes, a ManualClock and a seeded Random.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "fake_participant.h"
#include "memory_log.h"
#include "txcoord/coordinator/coordinator.pb.h"
#include "txcoord/coordinator/transaction_manager.h"
#include "txcoord/core/fault.h"
#include "txcoord/testing/poll.h"

namespace txcoord::testing {

namespace co = ::txcoord::coordinator;
using namespace std::chrono_literals;

// "BEGIN g1", "COMMIT g1", "ABORT g1", "REGISTER g1/b0", "END g1".
inline std::string Describe(const std::string& body) {
  co::v1::Record r;
  if (!r.ParseFromString(body)) return "?";
  switch (r.kind_case()) {
    case co::v1::Record::kBegin:
      return "BEGIN " + r.begin().gid();
    case co::v1::Record::kRegisterBranch:
      return "REGISTER " + r.register_branch().gid() + "/" + r.register_branch().branch().branch();
    case co::v1::Record::kDecision:
      return (r.decision().outcome() == co::v1::Decision::COMMIT ? "COMMIT " : "ABORT ") +
             r.decision().gid();
    case co::v1::Record::kEnd:
      return "END " + r.end().gid() +
             (r.end().final_state().empty() ? "" : " " + r.end().final_state());
    case co::v1::Record::kSagaStep: {
      const auto& st = r.saga_step();
      static const char* kEvents[] = {"?", "STARTED", "DONE", "REFUSED", "FAILED"};
      return std::string(st.phase() == co::v1::SagaStep::COMPENSATE ? "COMP " : "STEP ") +
             st.gid() + "/" + std::to_string(st.step()) + " " +
             kEvents[st.event() >= 0 && st.event() <= 4 ? st.event() : 0];
    }
    default:
      return "?";
  }
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() {
    cfg.coordinator_id = "c1";
    cfg.worker_threads = 4;
    cfg.max_concurrent_per_participant = 2;
    cfg.default_timeout = 5s;
    cfg.prepare_backoff = BackoffPolicy{1ms, 5ms, 2.0, 1ms};
    cfg.phase2_backoff = BackoffPolicy{1ms, 10ms, 2.0, 1ms};
    cfg.breaker_failures = 100;
    cfg.breaker_cooldown = 1s;
    cfg.orphan_scan_interval = 0ms;
    cfg.orphan_min_age = 1s;
    cfg.checkpoint_every_records = 0;
    cfg.checkpoint_interval = 0ms;
    cfg.tick = 5ms;
    // The fakes are quick: without this they would soon all be called on the Submit thread.
    // The tests of that rule set it themselves.
    cfg.inline_calls_under = 0us;
  }

  void TearDown() override {
    Crash();
    fault::Registry::Global().DisarmAll();
  }

  // Opens the memory log (replaying the store) and starts an engine on it.
  void Start() {
    co::RecoveredState state(cfg.max_finished_kept);
    auto opened = MemoryLog::Open(store, state.Visitor());
    ASSERT_TRUE(opened.ok()) << opened.status();
    log = *opened;
    log->OnAppend([ev = events](const std::string& body) { ev->Add("wal:" + Describe(body)); });
    auto tm_or =
        co::TransactionManager::Start(cfg, {pg, redis}, log, std::move(state), clock, random);
    ASSERT_TRUE(tm_or.ok()) << tm_or.status();
    tm = std::move(*tm_or);
  }

  // Drops the engine as a crash would: durable records stay in `store`, lazy ones not yet
  // covered by a forced append are lost (the worst case the real WAL allows).
  void Crash() {
    for (auto* p : {pg.get(), redis.get()}) {
      p->prepare_gate.Open();
      p->commit_gate.Open();
    }
    tm.reset();
    log.reset();
    store->LoseUnsynced();
  }

  void Restart() {
    Crash();
    fault::Registry::Global().DisarmAll();
    Start();
  }

  // Begins an open transaction `gid`: its forced BEGIN makes every lazy record before it (the
  // ENDs of finished transactions) durable, so a Crash keeps them.
  void Fence(const std::string& gid = "fence") {
    co::OpenRequest open;
    open.gid = gid;
    open.timeout = std::chrono::seconds(60);
    ASSERT_TRUE(tm->BeginOpen(open).ok());
  }

  // Restarts as Restart does, after a checkpoint if `checkpoint` (the state then comes from it,
  // not from replaying the records).
  void RestartFrom(bool checkpoint) {
    if (checkpoint) {
      ASSERT_TRUE(tm->CheckpointNow().ok());
    }
    Restart();
  }

  static co::TxnRequest Request(const std::string& gid,
                                std::vector<std::string> parts = {"pg", "redis"}) {
    co::TxnRequest r;
    r.gid = gid;
    for (const auto& p : parts) {
      r.branches.push_back(co::BranchRequest{p, "transfer", {{"amount", "10"}}, ""});
    }
    return r;
  }

  // Commits `n` two-branch transactions whose caller waits for phase 2: enough calls for the
  // channels to have timed each participant's calls.
  void WarmUp(int n) {
    for (int i = 0; i < n; ++i) {
      auto req = Request("t-warm" + std::to_string(i));
      req.caller_waits_phase2 = true;
      auto r = tm->Submit(req);
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  co::TxnView WaitFinal(const std::string& gid) {
    auto v = tm->Wait(gid, 10s);
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) return {};
    EXPECT_TRUE(co::IsFinal(v->state)) << gid << " is " << co::TxnStateName(v->state);
    return *v;
  }

  // The id the stores see for branch `label` ("b0", "s1") of `gid`: the engine's incarnated
  // one ("b0.1f2e3d4c") when the engine knows the transaction, else `label` as it is (records
  // a test wrote itself, ghosts).
  participant::BranchId Id(const std::string& gid, const std::string& label) const {
    auto of = [&](const std::string& id) { return id == label || id.rfind(label + ".", 0) == 0; };
    if (tm) {
      if (auto v = tm->Get(gid); v.ok()) {
        for (const auto& b : v->branches) {
          if (of(b.branch)) return participant::BranchId{cfg.coordinator_id, gid, b.branch};
        }
      }
    }
    // Between a Crash and a Start: the BEGIN in the log.
    std::lock_guard<std::mutex> lock(store->mu);
    for (const auto& [lsn, body] : store->records) {
      co::v1::Record r;
      if (!r.ParseFromString(body) || !r.has_begin() || r.begin().gid() != gid) continue;
      for (const auto& b : r.begin().branches()) {
        if (of(b.branch())) return participant::BranchId{cfg.coordinator_id, gid, b.branch()};
      }
    }
    return participant::BranchId{cfg.coordinator_id, gid, label};
  }

  // All-or-nothing over both fakes for a two-branch (pg b0, redis b1) transaction.
  void ExpectAtomic(const std::string& gid, bool committed) {
    const FakeState want = committed ? FakeState::kCommitted : FakeState::kAborted;
    EXPECT_EQ(pg->StateOf(Id(gid, "b0")), want) << gid;
    EXPECT_EQ(redis->StateOf(Id(gid, "b1")), want) << gid;
  }

  co::Config cfg;
  ManualClock clock;
  SeededRandom random{42};
  std::shared_ptr<EventLog> events = std::make_shared<EventLog>();
  std::shared_ptr<FakeParticipant> pg = std::make_shared<FakeParticipant>("pg", events);
  std::shared_ptr<FakeParticipant> redis = std::make_shared<FakeParticipant>("redis", events);
  std::shared_ptr<MemoryLogStore> store = std::make_shared<MemoryLogStore>();
  std::shared_ptr<MemoryLog> log;
  std::unique_ptr<co::TransactionManager> tm;
};

}  // namespace txcoord::testing
