// Operator decisions (txctl resolve, docs/coordinator.md "Operator decisions"): the
// protocol-consistent ones, and heuristic ones that settle a transaction whose participant is
// gone for good: a forced heuristic DECISION, one best-effort phase-2 call per unacknowledged
// branch, the rest marked kHeuristic (never called again), a forced END.
#include <boost/asio/post.hpp>

#include "engine.h"
#include "txcoord/core/fault.h"

namespace txcoord::coordinator {

using internal::v1::Decision;
using internal::v1::Record;

namespace {

bool Settled(BranchState s) {
  return s == BranchState::kCommitted || s == BranchState::kAborted || s == BranchState::kHeuristic;
}

// How long a forced resolve waits for phase-2 calls already in flight (real time).
constexpr std::chrono::seconds kInFlightWait{30};

std::string Unacknowledged(const Txn& t) {
  std::size_t n = 0;
  for (const Branch& b : t.branches) n += Settled(b.state) ? 0 : 1;
  return std::to_string(n) + (n == 1 ? " branch" : " branches") + " not acknowledged";
}

}  // namespace

std::string Engine::OperatorReason(bool commit, bool heuristic, bool mixed,
                                   const std::string& operator_id, const std::string& reason) {
  if (!heuristic) return (commit ? "committed by " : "aborted by ") + operator_id + ": " + reason;
  return std::string("heuristic ") + (commit ? "commit" : "abort") + (mixed ? " (mixed)" : "") +
         " by " + operator_id + ": " + reason;
}

void Engine::OperatorFieldsOf(const Txn& t, Decision& d) {
  if (!t.heuristic && t.operator_id.empty()) return;
  d.set_heuristic(t.heuristic);
  d.set_heuristic_mixed(t.heuristic_mixed);
  d.set_operator_id(t.operator_id);
  d.set_reason(t.operator_reason);
}

Result<TxnView> Engine::Resolve(const std::string& gid, const ResolveRequest& request) {
  ResolveRequest r = request;
  if (r.reason.empty()) return InvalidArgument("a reason is required");
  if (r.reason.size() > kMaxResolveReasonLen) {
    return InvalidArgument("the reason is " + std::to_string(r.reason.size()) +
                           " bytes; the limit is " + std::to_string(kMaxResolveReasonLen));
  }
  if (r.operator_id.size() > kMaxOperatorIdLen) {
    return InvalidArgument("the operator id is longer than " + std::to_string(kMaxOperatorIdLen) +
                           " bytes");
  }
  if (r.operator_id.empty()) r.operator_id = "unknown";
  TxnPtr txn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    TXC_ASSIGN_OR_RETURN(txn, FindLocked(gid));
    if (IsFinal(txn->state)) {
      return Conflict("transaction " + gid + " is already " +
                      std::string(TxnStateName(txn->state)) + ": nothing to resolve");
    }
    if (txn->pending_decision) {
      return Conflict("a decision of transaction " + gid +
                      " is being written; look again once it is durable");
    }
    if (txn->end_started) {
      return Conflict("transaction " + gid + " is finishing (its END is being written)" +
                      (txn->heuristic ? " after a heuristic decision" : "") +
                      ": nothing to resolve");
    }
    TXC_RETURN_IF_ERROR(CheckReadyLocked());
  }
  return r.force ? ResolveHeuristic(txn, r) : ResolveConsistent(txn, r);
}

Result<TxnView> Engine::ResolveConsistent(const TxnPtr& txn, const ResolveRequest& r) {
  const bool commit = r.outcome == ResolveOutcome::kCommit;
  const std::string g = "transaction " + txn->gid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Txn& t = *txn;
    const std::string state(TxnStateName(t.state));
    if (t.saga) {
      return Conflict(g + " is a saga (" + state +
                      "): it commits or compensates by itself; --force ends it heuristically (" +
                      (commit ? "committed" : "compensated") +
                      ") with its unfinished steps marked heuristic");
    }
    switch (t.state) {
      case TxnState::kCommitting:
        if (commit) {
          return Conflict(g + " is already decided commit and phase 2 is pending (" +
                          Unacknowledged(t) +
                          "); txctl retry resends it now, --force settles the unacknowledged "
                          "branches heuristically");
        }
        return Conflict(g +
                        " has a durable COMMIT decision: aborting it would break atomicity; "
                        "--force records a heuristic abort (heuristic_mixed: branches that "
                        "committed stay committed)");
      case TxnState::kAborting:
        if (!commit) {
          return Conflict(g + " is already decided abort and phase 2 is pending (" +
                          Unacknowledged(t) +
                          "); txctl retry resends it now, --force settles the unacknowledged "
                          "branches heuristically");
        }
        return Conflict(g + " was decided abort (" + t.reason +
                        "): committing it would break atomicity; --force records a heuristic "
                        "commit (heuristic_mixed)");
      case TxnState::kActive:
      case TxnState::kPreparing:
        break;
      default:
        return Conflict(g + " is " + state);
    }
  }
  if (commit) return DecideCommit(txn, &r);  // refuses unless every branch is prepared
  Record rec;
  Decision* d = rec.mutable_decision();
  d->set_gid(txn->gid);
  d->set_outcome(Decision::ABORT);
  d->set_reason(r.reason);
  d->set_operator_id(r.operator_id);
  d->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  // Forced (a plain ABORT is lazy) so that the operator's reason is durable.
  auto reserve = [&]() -> Result<bool> {
    if (txn->pending_decision ||
        (txn->state != TxnState::kPreparing && txn->state != TxnState::kActive)) {
      return Conflict(g + " was decided meanwhile: " + std::string(TxnStateName(txn->state)));
    }
    txn->pending_decision = *d;
    return true;
  };
  auto publish = [&] {
    txn->pending_decision.reset();
    NoteLocked(*txn, rec);
    txn->operator_id = r.operator_id;
    txn->operator_reason = r.reason;
    MarkAbortingLocked(*txn, OperatorReason(false, false, false, r.operator_id, r.reason));
  };
  Status s = AppendForced(rec, reserve, publish);
  if (!s.ok()) return s;
  StartPhase2(txn, Phase2Op::kAbort);
  std::lock_guard<std::mutex> lock(mu_);
  return ViewLocked(*txn);
}

Result<TxnView> Engine::ResolveHeuristic(const TxnPtr& txn, const ResolveRequest& r) {
  const bool commit = r.outcome == ResolveOutcome::kCommit;
  Record rec;
  Decision* d = rec.mutable_decision();
  d->set_gid(txn->gid);
  d->set_outcome(commit ? Decision::COMMIT : Decision::ABORT);
  d->set_reason(r.reason);
  d->set_heuristic(true);
  d->set_operator_id(r.operator_id);
  d->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  auto reserve = [&]() -> Result<bool> {
    Txn& t = *txn;
    if (IsFinal(t.state) || t.end_started) {
      return Conflict("transaction " + t.gid + " finished meanwhile (" +
                      std::string(TxnStateName(t.state)) + ")");
    }
    if (t.pending_decision) {
      return Conflict("a decision of transaction " + t.gid + " is being written");
    }
    const TxnState prior = t.state;
    const bool mixed = (prior == TxnState::kCommitting && !commit) ||
                       (prior == TxnState::kAborting && commit) ||
                       (prior == TxnState::kCompensating && commit);
    d->set_heuristic_mixed(mixed);
    t.pending_decision = *d;
    t.end_started = true;  // no END from phase 2 or a saga meanwhile: SettleHeuristic ends it
    return true;
  };
  // Once durable: what the decision changes becomes visible (and acted on).
  auto publish = [&] {
    Txn& t = *txn;
    t.pending_decision.reset();
    const TxnState prior = t.state;
    const bool mixed = d->heuristic_mixed();
    NoteLocked(t, rec);
    if (prior == TxnState::kPreparing || prior == TxnState::kActive ||
        prior == TxnState::kRunning) {
      RecordLatencyLocked(t);
    }
    t.heuristic = true;
    t.heuristic_mixed = mixed;
    t.operator_id = r.operator_id;
    t.operator_reason = r.reason;
    t.reason = OperatorReason(commit, true, mixed, r.operator_id, r.reason);
    t.end_started = true;  // no END from phase 2, no new saga steps
    t.stuck = false;
    t.updated = clock_.WallNow();
    if (t.saga) {
      t.state = commit ? TxnState::kRunning : TxnState::kCompensating;
    } else {
      t.state = commit ? TxnState::kCommitting : TxnState::kAborting;
      t.prepare_failed = true;  // a one-shot submitter still in Decide() wakes up
      if (t.fail_reason.empty()) t.fail_reason = t.reason;
      for (Branch& b : t.branches) {
        if (Settled(b.state)) continue;
        ++b.generation;  // pending retry timers become stale
        b.state = commit ? BranchState::kCommitting : BranchState::kAborting;
      }
    }
    txn->cv.notify_all();
  };
  Status s = AppendForced(rec, reserve, publish);
  if (!s.ok()) return s;
  if (!Fault("coordinator.after_heuristic_decision")) {
    return Unavailable("coordinator stopped after the heuristic decision of " + txn->gid +
                       " was durable; recovery settles it");
  }
  SettleHeuristic(txn);
  std::lock_guard<std::mutex> lock(mu_);
  return ViewLocked(*txn);
}

void Engine::SettleHeuristic(const TxnPtr& txn) {
  std::vector<std::size_t> todo;
  bool commit = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    commit = txn->state == TxnState::kCommitting || txn->state == TxnState::kRunning;
    if (!txn->saga) {
      // Phase-2 calls already in flight finish first (RunPhase2 notifies); their
      // acknowledgement counts.
      txn->cv.wait_for(lock, kInFlightWait, [&] {
        if (Stopped()) return true;
        for (const Branch& b : txn->branches) {
          if (b.call_in_flight) return false;
        }
        return true;
      });
    }
    for (std::size_t i = 0; i < txn->branches.size(); ++i) {
      Branch& b = txn->branches[i];
      if (txn->saga) {
        // Sagas: no calls; every step not already where the outcome wants it is heuristic.
        const bool fine =
            commit ? b.state == BranchState::kDone
                   : (b.state == BranchState::kCompensated || b.state == BranchState::kRefused ||
                      (b.state == BranchState::kPending && !b.maybe_ran));
        ++b.generation;
        if (fine || b.state == BranchState::kHeuristic) continue;
        b.last_error = "settled by the operator, was " + std::string(BranchStateName(b.state)) +
                       (b.last_error.empty() ? "" : ": " + b.last_error);
        b.state = BranchState::kHeuristic;
        continue;
      }
      if (Settled(b.state)) continue;
      if (b.call_in_flight) {
        b.state = BranchState::kHeuristic;
        b.last_error =
            "not acknowledged, settled by the operator: a phase-2 call was still in "
            "flight after " +
            std::to_string(kInFlightWait.count()) + " s (outcome unknown)";
        continue;
      }
      b.call_in_flight = true;
      todo.push_back(i);
    }
  }
  for (std::size_t i : todo) {  // one best-effort call each; a failure is not retried
    const Status s = CallPhase2(txn, i, commit ? Phase2Op::kCommit : Phase2Op::kAbort);
    std::lock_guard<std::mutex> lock(mu_);
    Branch& b = txn->branches[i];
    b.call_in_flight = false;
    if (s.ok()) {
      b.state = commit ? BranchState::kCommitted : BranchState::kAborted;
      b.last_error.clear();
    } else {
      b.state = BranchState::kHeuristic;
      b.last_error = "not acknowledged, settled by the operator: " + s.ToString();
    }
  }
  if (Stopped()) return;
  Record rec;
  internal::v1::End* e = rec.mutable_end();
  e->set_gid(txn->gid);
  e->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  e->set_heuristic(true);
  e->set_final_state(commit ? "committed" : txn->saga ? "compensated" : "aborted");
  Status s = AppendForced(rec, [&]() -> Result<bool> {
    for (const Branch& b : txn->branches) {
      if (b.state == BranchState::kHeuristic) e->add_heuristic_branches(b.branch);
    }
    NoteLocked(*txn, rec);
    return true;
  });
  if (!s.ok()) return;  // fail-stopped; recovery settles it again
  std::lock_guard<std::mutex> lock(mu_);
  FinishLocked(*txn);
}

}  // namespace txcoord::coordinator
