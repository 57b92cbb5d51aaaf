// Recovery: rebuilding live and kept finished transactions from the replayed WAL (Resume,
// RestoreFinishedLocked) and finishing the live ones in slices on the pool (ResumeSlice).
#include <algorithm>
#include <boost/asio/post.hpp>
#include <set>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "engine.h"
#include "txcoord/core/log.h"

namespace txcoord::coordinator {

using internal::v1::Decision;

namespace {

// A 2PC transaction's branches, from its BEGIN and its registrations, each in `state`.
void AddBranches(const internal::ReplayTxn& rt, BranchState state, Txn& txn) {
  auto add = [&](const internal::v1::Branch& p) {
    Branch br;
    br.participant = p.participant();
    br.action = p.action();
    br.branch = p.branch();
    for (const auto& [k, v] : p.payload()) br.payload.emplace(k, v);
    br.state = state;
    txn.branches.push_back(std::move(br));
  };
  for (const auto& p : rt.begin.branches()) add(p);
  for (const auto& p : rt.registered) add(p);
}

}  // namespace

void Engine::Resume(internal::ReplayTables& tables) {
  std::vector<std::pair<TxnPtr, std::string>> to_abort;
  std::vector<std::pair<TxnPtr, Phase2Op>> to_finish;
  std::vector<TxnPtr> sagas;
  std::vector<TxnPtr> to_settle;  // a heuristic DECISION without its END
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, r] : tables.idem) {
      idem_[key] = IdemRecord{r.request_hash(), r.gid(), internal::FromUnixMs(r.created_unix_ms()),
                              r.final_state()};
      idem_order_.emplace_back(idem_[key].created, key);
    }
    std::sort(idem_order_.begin(), idem_order_.end());
    const Clock::WallTime now = clock_.WallNow();
    // Sized once: no rehashing (nor vector growth) through 100k recovered transactions.
    txns_.reserve(txns_.size() + tables.live.size() + tables.finished.size());
    live_.reserve(live_.size() + tables.live.size());
    while (!tables.live.empty()) {
      // Taken out one at a time: each replayed transaction is freed as its engine copy is made,
      // so the two do not interleave in the heap (RSS per in-flight transaction).
      auto node = tables.live.extract(tables.live.begin());
      const std::string& gid = node.key();
      internal::ReplayTxn& rt = node.mapped();
      auto txn = std::make_shared<Txn>();
      const internal::v1::Begin& b = rt.begin;
      txn->gid = gid;
      txn->open = b.open();
      txn->created = txn->updated = internal::FromUnixMs(b.created_unix_ms());
      txn->started = clock_.Now();
      txn->timeout = std::chrono::milliseconds(b.timeout_ms());
      txn->idem_key = b.idempotency_key();
      txn->request_hash = b.request_hash();
      txn->timeline = std::move(rt.timeline);
      const Decision& d = rt.decision;
      const bool commit = d.outcome() == Decision::COMMIT;
      if (d.heuristic() || !d.operator_id().empty()) {
        txn->heuristic = d.heuristic();
        txn->heuristic_mixed = d.heuristic_mixed();
        txn->operator_id = d.operator_id();
        txn->operator_reason = d.reason();
      }
      if (b.mode() == "saga") {
        SagaResumeLocked(rt, *txn);
        if (d.heuristic()) {
          txn->state = commit ? TxnState::kRunning : TxnState::kCompensating;
          txn->reason =
              OperatorReason(commit, true, d.heuristic_mixed(), d.operator_id(), d.reason());
          txn->end_started = true;
          to_settle.push_back(txn);
        } else {
          sagas.push_back(txn);
        }
        txns_[gid] = txn;
        ++in_flight_;
        AddLiveLocked(*txn);
        continue;
      }
      AddBranches(rt, BranchState::kPrepared, *txn);  // as far as recovery can tell
      txn->state = TxnState::kPreparing;
      switch (rt.decision.outcome()) {
        case Decision::COMMIT:
        case Decision::ABORT:
          txn->state = commit ? TxnState::kCommitting : TxnState::kAborting;
          txn->reason = d.reason();
          if (d.heuristic() || !d.operator_id().empty()) {
            txn->reason = OperatorReason(commit, d.heuristic(), d.heuristic_mixed(),
                                         d.operator_id(), d.reason());
          }
          if (d.heuristic()) {
            // Settled again: which branches acknowledged is not in the log, so each gets one
            // more best-effort call (idempotent) before the END.
            for (Branch& br : txn->branches) {
              br.state = commit ? BranchState::kCommitting : BranchState::kAborting;
            }
            txn->end_started = true;
            to_settle.push_back(txn);
          } else {
            to_finish.emplace_back(txn, commit ? Phase2Op::kCommit : Phase2Op::kAbort);
          }
          break;
        default:
          if (txn->open && now < txn->created + txn->timeout) {
            txn->state = TxnState::kActive;
            open_active_.push_back(txn);
          } else {
            to_abort.emplace_back(txn, txn->open ? "open transaction timed out"
                                                 : "recovered without a decision (presumed abort)");
          }
      }
      txns_[gid] = txn;
      ++in_flight_;
      AddLiveLocked(*txn);
    }
    for (const std::string& gid : tables.finished_order) {  // oldest first, as finished_
      RestoreFinishedLocked(tables.finished.at(gid));
    }
    // The byte rule goes on where it was (CheckpointDue): a restart does not make the first
    // checkpoint due early.
    records_since_checkpoint_ = tables.records_after_checkpoint;
    bytes_since_checkpoint_ = tables.bytes_after_checkpoint;
    last_checkpoint_bytes_ = tables.checkpoint_bytes;
    replay_done_ = true;
  }
  for (const TxnPtr& txn : to_settle) {
    boost::asio::post(pool_, [this, txn] {
      if (!Stopped()) SettleHeuristic(txn);
    });
  }
  // Finishing the recovered transactions is background work, in slices on the timer thread:
  // readiness and new transactions do not wait for (say) 100k phase-2 dispatches.
  auto work = std::make_shared<ResumeWork>();
  for (auto& [txn, why] : to_abort) {
    work->steps.push_back([this, txn, why] { DecideAbort(txn, why); });
  }
  for (auto& [txn, op] : to_finish) {
    work->steps.push_back([this, txn, op] { StartPhase2(txn, op); });
  }
  for (const TxnPtr& txn : sagas) work->steps.push_back([this, txn] { SagaAdvance(txn); });
  ResumeSlice(std::move(work));
  StartTimers();
}

void Engine::ResumeSlice(std::shared_ptr<ResumeWork> work) {
  if (work->next == work->steps.size()) {
    work->steps = {};
#if defined(__GLIBC__)
    ::malloc_trim(0);  // give the replay's freed memory back to the OS
#endif
    return;
  }
  boost::asio::post(io_, [this, work = std::move(work)]() mutable {
    if (Stopped()) return;
    const std::size_t end = std::min(work->steps.size(), work->next + 256);
    for (; work->next < end; ++work->next) {
      work->steps[work->next]();
      work->steps[work->next] = nullptr;
    }
    ResumeSlice(std::move(work));
  });
}

void Engine::RestoreFinishedLocked(const internal::ReplayTxn& rt) {
  const internal::v1::Begin& b = rt.begin;
  if (txns_.count(b.gid()) != 0) return;  // a later transaction with the gid is live
  auto txn = std::make_shared<Txn>();
  txn->gid = b.gid();
  txn->open = b.open();
  txn->created = internal::FromUnixMs(b.created_unix_ms());
  txn->updated = internal::FromUnixMs(rt.end.at_unix_ms());
  txn->timeout = std::chrono::milliseconds(b.timeout_ms());
  txn->idem_key = b.idempotency_key();
  txn->request_hash = b.request_hash();
  const bool commit = rt.end.final_state() == "committed";
  const Decision& d = rt.decision;
  if (b.mode() == "saga") {
    SagaStepsOf(rt, *txn);        // the steps as their records (or summaries) left them
    if (rt.saga_steps.empty()) {  // an older version's heuristic entry: no step states
      for (Branch& br : txn->branches) {
        br.state = commit ? BranchState::kDone : BranchState::kCompensated;
      }
    }
  } else {
    AddBranches(rt, commit ? BranchState::kCommitted : BranchState::kAborted, *txn);
  }
  txn->state = commit      ? TxnState::kCommitted
               : txn->saga ? TxnState::kCompensated
                           : TxnState::kAborted;
  txn->reason = d.reason();
  if (d.heuristic() || !d.operator_id().empty()) {
    txn->heuristic = d.heuristic();
    txn->heuristic_mixed = d.heuristic_mixed();
    txn->operator_id = d.operator_id();
    txn->operator_reason = d.reason();
    txn->reason =
        OperatorReason(commit, d.heuristic(), d.heuristic_mixed(), d.operator_id(), d.reason());
  }
  txn->end_started = true;
  // As far as the END tells: the branches it lists were settled by the operator unacknowledged.
  for (const std::string& settled : rt.end.heuristic_branches()) {
    for (Branch& br : txn->branches) {
      if (br.branch != settled) continue;
      br.state = BranchState::kHeuristic;
      br.last_error = "not acknowledged, settled by the operator";
    }
  }
  txn->timeline = rt.timeline;
  txns_[txn->gid] = txn;
  KeepFinishedLocked(txn->gid);
}

}  // namespace txcoord::coordinator
