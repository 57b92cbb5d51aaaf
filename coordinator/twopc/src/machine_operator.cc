// Operator decisions (resolve, heuristic settle) and recovery of the 2PC machine.
#include "txcoord/twopc/machine.h"

namespace txcoord::twopc {

namespace {
bool Settled(BranchState s) {
  return s == BranchState::kCommitted || s == BranchState::kAborted || s == BranchState::kHeuristic;
}
std::string OperatorReason(Outcome o, bool heuristic, bool mixed, const std::string& op,
                           const std::string& reason) {
  const char* what = o == Outcome::kCommit ? "commit" : "abort";
  if (!heuristic) {
    return std::string(o == Outcome::kCommit ? "committed by " : "aborted by ") + op + ": " +
           reason;
  }
  return std::string("heuristic ") + what + (mixed ? " (mixed)" : "") + " by " + op + ": " + reason;
}
}  // namespace

void Machine::Resolve(const OperatorResolve& r) {
  const Event e{r};
  const std::string op = r.operator_id.empty() ? "unknown" : r.operator_id;
  if (r.force) return StartHeuristic(r);
  const bool undecided = state_ == State::kActive || state_ == State::kPreparing;
  if (!undecided) {
    return Reject(e, Code::kConflict,
                  "already decided; --force records a heuristic decision, retry resends");
  }
  if (r.outcome == Outcome::kAbort) {
    return DecideAbort(OperatorReason(Outcome::kAbort, false, false, op, r.reason), true, r.waiter,
                       op);
  }
  for (const Branch& b : branches_) {
    if (b.state != BranchState::kPrepared) {
      return Reject(e, Code::kConflict,
                    "branch " + b.spec.branch + " is " + std::string(BranchStateName(b.state)) +
                        ", not prepared: committing would break atomicity");
    }
  }
  operator_id_ = op;
  reason_ = OperatorReason(Outcome::kCommit, false, false, op, r.reason);
  if (r.waiter != 0) outcome_waiters_.push_back(r.waiter);
  DecideCommit();
}

void Machine::StartHeuristic(const OperatorResolve& r) {
  mixed_ = (state_ == State::kCommitting && r.outcome == Outcome::kAbort) ||
           (state_ == State::kAborting && r.outcome == Outcome::kCommit);
  Cancel(deadline_);
  for (Branch& b : branches_) {
    Cancel(b.retry);
    b.token = 0;  // replies to calls of the old phase are stale
  }
  heuristic_ = true;
  heuristic_outcome_ = r.outcome;
  operator_id_ = r.operator_id.empty() ? "unknown" : r.operator_id;
  reason_ = OperatorReason(r.outcome, true, mixed_, operator_id_, r.reason);
  heuristic_waiter_ = r.waiter;
  AnswerOutcome();  // a client waiting on an undecided transaction: it is being settled
  state_ = State::kHeuristic;
  Append(DecisionRecord{gid_, r.outcome, r.reason, true, mixed_, operator_id_}, true,
         Pending::kHeuristic);
  Publish();
}

void Machine::Settle() {
  settle_ = Arm(TimerKind::kSettle, 0);
  for (Branch& b : branches_) {
    if (Settled(b.state)) continue;
    if (b.state == BranchState::kRegistering) {  // never handed out: settled without a call
      b.state = BranchState::kHeuristic;
      continue;
    }
    b.state =
        heuristic_outcome_ == Outcome::kCommit ? BranchState::kCommitting : BranchState::kAborting;
    b.attempts = 0;
    SendPhase2(b);  // best effort: one call each
  }
  MaybeEndHeuristic(false);
}

void Machine::MaybeEndHeuristic(bool settle_fired) {
  if (end_written_) return;
  std::vector<std::string> heuristic;
  for (const Branch& b : branches_) {
    if (b.token != 0 && !settle_fired) return;  // a best-effort call may still answer
  }
  Cancel(settle_);
  for (Branch& b : branches_) {
    b.token = 0;
    if (Settled(b.state)) continue;
    b.state = BranchState::kHeuristic;
    heuristic.push_back(b.spec.branch);
  }
  end_written_ = true;
  const char* final_state = heuristic_outcome_ == Outcome::kCommit ? "committed" : "aborted";
  Append(EndRecord{gid_, final_state, true, std::move(heuristic)}, true, Pending::kEnd);
  Publish();
}

void Machine::Resume() {
  const std::optional<DecisionRecord>& d = replayed_decision_;
  if (d && !d->heuristic && !d->operator_id.empty()) operator_id_ = d->operator_id;
  if (d) reason_ = d->reason;
  if (d && d->heuristic) {
    heuristic_ = true;
    mixed_ = d->heuristic_mixed;
    heuristic_outcome_ = d->outcome;
    operator_id_ = d->operator_id;
    reason_ = OperatorReason(d->outcome, true, mixed_, operator_id_, d->reason);
  }
  if (end_written_) {  // finished: kept for queries, never called again
    const bool commit = d && d->outcome == Outcome::kCommit;
    state_ = commit ? State::kCommitted : State::kAborted;
    for (Branch& b : branches_) {
      if (b.state != BranchState::kHeuristic) {
        b.state = commit ? BranchState::kCommitted : BranchState::kAborted;
      }
    }
    return Publish();
  }
  if (d && d->heuristic) {
    state_ = State::kHeuristic;
    return Settle();
  }
  if (d && d->outcome == Outcome::kCommit) return EnterCommitting();
  if (!d) return DecideAbort("recovered without a decision (presumed abort)", false, 0, "");
  state_ = State::kAborting;  // ABORT durable: resend aborts without a second record
  for (Branch& b : branches_) {
    b.state = BranchState::kAborting;
    SendPhase2(b);
  }
  Publish();
  MaybeEnd();
}

}  // namespace txcoord::twopc
