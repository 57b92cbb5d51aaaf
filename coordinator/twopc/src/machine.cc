// The 2PC transition table (machine.h documents it row by row): one handler per state. Each
// handler names the events it accepts; anything else is rejected with the state unchanged.
#include "txcoord/twopc/machine.h"

namespace txcoord::twopc {

namespace {
template <typename T>
const T* As(const Event& e) {
  return std::get_if<T>(&e);
}
Waiter WaiterOf(const Event& e) {
  if (auto* s = As<Start>(e)) return s->waiter;
  if (auto* r = As<RegisterBranch>(e)) return r->waiter;
  if (auto* c = As<ClientCommit>(e)) return c->waiter;
  if (auto* a = As<ClientAbort>(e)) return a->waiter;
  if (auto* o = As<OperatorRetry>(e)) return o->waiter;
  if (auto* o = As<OperatorResolve>(e)) return o->waiter;
  return 0;
}
}  // namespace

Effects Machine::Apply(const Event& e) {
  out_.clear();
  if (Common(e)) return std::move(out_);
  switch (state_) {
    case State::kIdle:
      OnIdle(e);
      break;
    case State::kBeginning:
      OnBeginning(e);
      break;
    case State::kActive:
      OnActive(e);
      break;
    case State::kPreparing:
      OnPreparing(e);
      break;
    case State::kDeciding:
      OnDeciding(e);
      break;
    case State::kCommitting:
    case State::kAborting:
      OnPhase2(e);
      break;
    case State::kHeuristic:
      OnHeuristic(e);
      break;
    case State::kCommitted:
    case State::kAborted:
      OnFinal(e);
      break;
    case State::kRecovering:
      OnRecovering(e);
      break;
    case State::kHalted:
      Reject(e, Code::kUnavailable, "the coordinator's log failed");
      break;
  }
  return std::move(out_);
}

bool Machine::Common(const Event& e) {
  if (state_ == State::kHalted) return false;
  if (auto* d = As<RecordDurable>(e)) {
    auto it = pending_.find(d->seq);
    if (it == pending_.end()) {
      Reject(e, Code::kInternal, "no append with seq " + std::to_string(d->seq) + " in flight");
      return true;
    }
    const Pending kind = it->second;
    // Lazy records (ABORT, END) may become durable in any later state: nothing depends on them
    // except an operator's answer (a forced ABORT). Other forced ones: the table decides.
    // A REGISTER that lands after the transaction moved on (deadline, abort): the branch was
    // swept into that decision; its waiter learns the state.
    if (kind == Pending::kAbort || (kind == Pending::kEnd && state_ != State::kHeuristic) ||
        (kind == Pending::kRegister && state_ != State::kActive)) {
      pending_.erase(it);
      auto w = on_durable_.find(d->seq);
      if (w != on_durable_.end()) {
        for (Waiter x : w->second) out_.push_back(Answer{x, view()});
        on_durable_.erase(w);
      }
      return true;
    }
    return false;
  }
  if (auto* f = As<RecordFailed>(e)) {
    if (!pending_.contains(f->seq)) return false;
    Halt(f->why);
    return true;
  }
  if (auto* t = As<TimerFired>(e)) {
    if (!timers_.contains(t->id)) return true;  // cancelled or superseded: stale, ignored
    timers_.erase(t->id);
    return false;
  }
  if (auto* p = As<PrepareReply>(e)) {
    Branch* b = Find(p->branch);
    return b == nullptr || p->token == 0 || b->token != p->token;  // stale: ignored
  }
  if (auto* p = As<Phase2Reply>(e)) {
    Branch* b = Find(p->branch);
    return b == nullptr || p->token == 0 || b->token != p->token;
  }
  return false;
}

void Machine::Reject(const Event& e, Code code, const std::string& why) {
  Status s(code, "transaction " + gid_ + " is " + std::string(StateName(state_)) + ": " +
                     std::string(EventName(e)) + " does not apply (" + why + ")");
  if (auto* d = As<RecordDurable>(e)) pending_.erase(d->seq);  // keep no unmatched seq
  const Waiter w = WaiterOf(e);
  if (w != 0) {
    out_.push_back(Answer{w, s});
  } else {
    out_.push_back(Rejected{s});
  }
}

void Machine::OnIdle(const Event& e) {
  if (auto* s = As<Start>(e)) {
    begin_ = s->begin;
    for (const BranchSpec& b : begin_.branches) branches_.push_back(Branch{b});
    Seq q = Append(begin_, true, Pending::kBegin);
    if (s->waiter != 0) (begin_.open ? on_durable_[q] : outcome_waiters_).push_back(s->waiter);
    state_ = State::kBeginning;
    return;
  }
  if (auto* r = As<Replayed>(e); r != nullptr && std::holds_alternative<BeginRecord>(r->record)) {
    begin_ = std::get<BeginRecord>(r->record);
    for (const BranchSpec& b : begin_.branches) branches_.push_back(Branch{b});
    state_ = State::kRecovering;
    return;
  }
  Reject(e, Code::kFailedPrecondition, "no transaction started");
}

void Machine::OnBeginning(const Event& e) {
  if (auto* d = As<RecordDurable>(e); d != nullptr && pending_[d->seq] == Pending::kBegin) {
    pending_.erase(d->seq);
    deadline_ = Arm(TimerKind::kPrepareDeadline, 0, begin_.timeout_ms);
    if (begin_.open) {
      state_ = State::kActive;
      for (Waiter w : on_durable_[d->seq]) out_.push_back(Answer{w, view()});
      on_durable_.erase(d->seq);
      Publish();
      return;
    }
    SendPrepares();
    return;
  }
  Reject(e, Code::kUnavailable, "its BEGIN is being written; retry");
}

void Machine::OnActive(const Event& e) {
  if (auto* r = As<RegisterBranch>(e)) {
    if (Find(r->branch.branch) != nullptr) {
      return Reject(e, Code::kConflict, "branch " + r->branch.branch + " already registered");
    }
    branches_.push_back(Branch{r->branch, BranchState::kRegistering});
    Seq q = Append(RegisterRecord{gid_, r->branch}, true, Pending::kRegister);
    if (r->waiter != 0) on_durable_[q].push_back(r->waiter);
    return;
  }
  if (auto* d = As<RecordDurable>(e); d != nullptr && pending_[d->seq] == Pending::kRegister) {
    pending_.erase(d->seq);
    for (Branch& b : branches_) {
      if (b.state == BranchState::kRegistering) {
        b.state = BranchState::kPending;
        break;  // REGISTERs are durable in append order
      }
    }
    for (Waiter w : on_durable_[d->seq]) out_.push_back(Answer{w, view()});
    on_durable_.erase(d->seq);
    Publish();
    return;
  }
  if (auto* c = As<ClientCommit>(e)) {
    for (const Branch& b : branches_) {
      if (b.state == BranchState::kRegistering) {
        return Reject(e, Code::kUnavailable, "a branch registration is in flight; retry");
      }
    }
    if (c->waiter != 0) outcome_waiters_.push_back(c->waiter);
    return SendPrepares();
  }
  OnPreparing(e);  // aborts, deadline and operator commands as while preparing
}

void Machine::OnPreparing(const Event& e) {
  if (auto* p = As<PrepareReply>(e); p != nullptr && state_ == State::kPreparing) {
    return OnVote(*p);
  }
  if (auto* t = As<TimerFired>(e); t != nullptr && t->id == deadline_) {
    deadline_ = 0;
    return DecideAbort(state_ == State::kActive ? "timeout before commit" : "prepare timeout",
                       false, 0, "");
  }
  if (auto* a = As<ClientAbort>(e)) {
    if (a->waiter != 0) outcome_waiters_.push_back(a->waiter);
    return DecideAbort(a->reason.empty() ? "aborted by the client" : a->reason, false, 0, "");
  }
  if (auto* c = As<ClientCommit>(e); c != nullptr && begin_.open) {
    if (c->waiter != 0) outcome_waiters_.push_back(c->waiter);  // commit already under way
    return;
  }
  if (auto* r = As<OperatorResolve>(e)) return Resolve(*r);
  if (As<OperatorRetry>(e) != nullptr) {
    return Reject(e, Code::kFailedPrecondition, "not decided yet: nothing to retry");
  }
  Reject(e, Code::kFailedPrecondition, "not expected before a decision");
}

void Machine::OnDeciding(const Event& e) {
  if (auto* d = As<RecordDurable>(e); d != nullptr && pending_[d->seq] == Pending::kCommit) {
    pending_.erase(d->seq);
    return EnterCommitting();
  }
  if (auto* c = As<ClientCommit>(e)) {
    if (c->waiter != 0) outcome_waiters_.push_back(c->waiter);  // answered once durable
    return;
  }
  // The decision is taken but not durable: nothing may see it, nothing may contradict it.
  if (As<OperatorRetry>(e) != nullptr) {
    return Reject(e, Code::kFailedPrecondition, "not decided yet: nothing to retry");
  }
  Reject(e, Code::kConflict, "a commit decision is being recorded");
}

void Machine::OnPhase2(const Event& e) {
  if (auto* p = As<Phase2Reply>(e)) return OnAck(*p);
  if (auto* t = As<TimerFired>(e)) {
    for (Branch& b : branches_) {
      if (b.retry == t->id) {
        b.retry = 0;
        return SendPhase2(b);
      }
    }
    return Reject(e, Code::kInternal, "a timer of no branch");
  }
  if (auto* o = As<OperatorRetry>(e)) {
    RetryAll();
    if (o->waiter != 0) out_.push_back(Answer{o->waiter, view()});
    return;
  }
  if (auto* r = As<OperatorResolve>(e)) return Resolve(*r);
  const bool committing = state_ == State::kCommitting;
  if (auto* c = As<ClientCommit>(e)) {
    if (!committing) return Reject(e, Code::kAborted, "aborted: " + reason_);
    if (c->waiter != 0) out_.push_back(Answer{c->waiter, view()});
    return;
  }
  if (auto* a = As<ClientAbort>(e)) {
    if (committing) return Reject(e, Code::kConflict, "decided commit");
    if (a->waiter != 0) out_.push_back(Answer{a->waiter, view()});
    return;
  }
  if (As<PrepareReply>(e) != nullptr) return;  // unreachable: tokens cleared at the decision
  Reject(e, Code::kFailedPrecondition, "not expected in phase 2");
}

void Machine::OnHeuristic(const Event& e) {
  if (auto* d = As<RecordDurable>(e)) {
    const Pending kind = pending_[d->seq];
    pending_.erase(d->seq);
    if (kind == Pending::kHeuristic) return Settle();
    if (kind == Pending::kEnd) {
      state_ = heuristic_outcome_ == Outcome::kCommit ? State::kCommitted : State::kAborted;
      if (heuristic_waiter_ != 0) out_.push_back(Answer{heuristic_waiter_, view()});
      heuristic_waiter_ = 0;
      return Publish();
    }
    return Reject(e, Code::kInternal, "a record it did not write");
  }
  if (auto* p = As<Phase2Reply>(e)) {
    Branch* b = Find(p->branch);
    b->token = 0;
    ++b->attempts;
    if (p->ack == Ack::kOk) {
      b->state =
          heuristic_outcome_ == Outcome::kCommit ? BranchState::kCommitted : BranchState::kAborted;
    } else {
      b->last_error = p->detail;
    }
    return MaybeEndHeuristic(false);
  }
  if (auto* t = As<TimerFired>(e); t != nullptr && t->id == settle_) {
    settle_ = 0;
    return MaybeEndHeuristic(true);
  }
  if (As<TimerFired>(e) != nullptr) return;  // a retry timer of the old decision: superseded
  Reject(e, Code::kConflict, "an operator's heuristic decision is being settled");
}

void Machine::OnFinal(const Event& e) {
  const bool committed = state_ == State::kCommitted;
  if (auto* c = As<ClientCommit>(e); c != nullptr && committed) {
    if (c->waiter != 0) out_.push_back(Answer{c->waiter, view()});
    return;
  }
  if (auto* a = As<ClientAbort>(e); a != nullptr && !committed) {
    if (a->waiter != 0) out_.push_back(Answer{a->waiter, view()});
    return;
  }
  if (As<OperatorRetry>(e) != nullptr || As<OperatorResolve>(e) != nullptr) {
    return Reject(e, Code::kConflict, "already final: nothing to retry or resolve");
  }
  Reject(e, committed ? Code::kConflict : Code::kAborted, "already final");
}

void Machine::OnRecovering(const Event& e) {
  if (auto* r = As<Replayed>(e)) {
    if (auto* g = std::get_if<RegisterRecord>(&r->record)) {
      if (Find(g->branch.branch) == nullptr) branches_.push_back(Branch{g->branch});
      return;
    }
    if (auto* d = std::get_if<DecisionRecord>(&r->record)) {
      replayed_decision_ = *d;
      return;
    }
    if (auto* x = std::get_if<EndRecord>(&r->record)) {
      end_written_ = true;
      for (const std::string& id : x->heuristic_branches) {
        if (Branch* b = Find(id)) b->state = BranchState::kHeuristic;
      }
      return;
    }
    return Reject(e, Code::kInternal, "a second BEGIN for the same transaction");
  }
  if (As<Recovered>(e) != nullptr) return Resume();
  Reject(e, Code::kUnavailable, "recovering; retry");
}

}  // namespace txcoord::twopc
