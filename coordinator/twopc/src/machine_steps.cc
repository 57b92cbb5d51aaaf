// The actions the 2PC transition table (machine.cc) names. Each appends its effects to out_.
#include "txcoord/twopc/machine.h"

namespace txcoord::twopc {

namespace {
bool Acked(BranchState s) {
  return s == BranchState::kCommitted || s == BranchState::kAborted || s == BranchState::kHeuristic;
}
}  // namespace

Seq Machine::Append(Record r, bool forced, Pending kind) {
  const Seq q = next_seq_++;
  pending_.emplace(q, kind);
  out_.push_back(AppendRecord{q, std::move(r), forced});
  return q;
}

TimerId Machine::Arm(TimerKind kind, std::uint32_t attempt, std::int64_t timeout_ms) {
  const TimerId id = next_timer_++;
  timers_.insert(id);
  out_.push_back(ArmTimer{id, kind, attempt, timeout_ms});
  return id;
}

void Machine::Cancel(TimerId& id) {
  if (id != 0 && timers_.erase(id) > 0) out_.push_back(CancelTimer{id});
  id = 0;
}

Machine::Branch* Machine::Find(const std::string& branch) {
  for (Branch& b : branches_) {
    if (b.spec.branch == branch) return &b;
  }
  return nullptr;
}

bool Machine::AllAcked() const {
  for (const Branch& b : branches_) {
    if (!Acked(b.state)) return false;
  }
  return true;
}

void Machine::Publish() {
  out_.push_back(twopc::Publish{view()});
}

void Machine::AnswerOutcome() {
  for (Waiter w : outcome_waiters_) out_.push_back(Answer{w, view()});
  outcome_waiters_.clear();
}

void Machine::SendPrepares() {
  state_ = State::kPreparing;
  if (branches_.empty()) return DecideCommit();
  for (Branch& b : branches_) {
    b.state = BranchState::kPreparing;
    b.token = next_token_++;
    b.attempts = 1;
    out_.push_back(CallPrepare{b.spec, b.token});
  }
  Publish();
}

void Machine::OnVote(const PrepareReply& r) {
  Branch& b = *Find(r.branch);
  b.token = 0;
  const bool healthy = r.vote == Vote::kYes || r.vote == Vote::kNo;
  out_.push_back(ReportCall{b.spec.participant, healthy ? Health::kSuccess : Health::kFailure});
  if (r.vote == Vote::kYes) {
    b.state = BranchState::kPrepared;
    for (const Branch& x : branches_) {
      if (x.state != BranchState::kPrepared) return Publish();
    }
    return DecideCommit();
  }
  b.state = r.vote == Vote::kNo ? BranchState::kRefused : BranchState::kFailed;
  b.last_error = r.detail;
  const char* what = r.vote == Vote::kNo      ? " voted no"
                     : r.vote == Vote::kError ? " failed to prepare"
                                              : " prepare outcome unknown";
  DecideAbort("branch " + b.spec.branch + what + (r.detail.empty() ? "" : ": " + r.detail), false,
              0, "");
}

void Machine::DecideCommit() {
  Cancel(deadline_);
  state_ = State::kDeciding;
  DecisionRecord d{gid_, Outcome::kCommit, reason_, false, false, operator_id_};
  Append(d, true, Pending::kCommit);
}

void Machine::EnterCommitting() {
  state_ = State::kCommitting;
  for (Branch& b : branches_) {
    b.state = BranchState::kCommitting;
    b.attempts = 0;
    b.backoff = 0;
    b.last_error.clear();
    SendPhase2(b);
  }
  AnswerOutcome();
  Publish();
  MaybeEnd();  // an open transaction without branches
}

void Machine::DecideAbort(const std::string& reason, bool forced, Waiter op_waiter,
                          const std::string& operator_id) {
  Cancel(deadline_);
  reason_ = reason;
  operator_id_ = operator_id;
  DecisionRecord d{gid_, Outcome::kAbort, reason, false, false, operator_id};
  const Seq q = Append(d, forced, Pending::kAbort);
  if (op_waiter != 0) on_durable_[q].push_back(op_waiter);
  state_ = State::kAborting;
  for (Branch& b : branches_) {
    // A branch whose REGISTER is not durable was never handed out: nothing to undo, no call.
    b.state = b.state == BranchState::kRegistering ? BranchState::kAborted : BranchState::kAborting;
    b.attempts = 0;
    b.backoff = 0;
    b.token = 0;  // a late vote is stale now
    SendPhase2(b);
  }
  AnswerOutcome();
  Publish();
  MaybeEnd();
}

void Machine::SendPhase2(Branch& b) {
  if (Acked(b.state)) return;
  b.token = next_token_++;
  ++b.attempts;
  const bool commit = state_ == State::kHeuristic ? heuristic_outcome_ == Outcome::kCommit
                                                  : state_ == State::kCommitting;
  if (commit) {
    out_.push_back(CallCommit{b.spec.branch, b.spec.participant, b.token});
  } else {
    out_.push_back(CallAbort{b.spec.branch, b.spec.participant, b.token});
  }
}

void Machine::OnAck(const Phase2Reply& r) {
  Branch& b = *Find(r.branch);
  b.token = 0;
  switch (r.ack) {
    case Ack::kOk:
      out_.push_back(ReportCall{b.spec.participant, Health::kSuccess});
      b.state = state_ == State::kCommitting ? BranchState::kCommitted : BranchState::kAborted;
      b.last_error.clear();
      return MaybeEnd();
    case Ack::kRetryable:
    case Ack::kUnknown:
      out_.push_back(ReportCall{b.spec.participant, Health::kFailure});
      b.last_error = r.detail.empty() ? "no acknowledgement" : r.detail;
      b.retry = Arm(TimerKind::kRetry, ++b.backoff);
      return Publish();
    case Ack::kConflict:
      // A protocol violation, not an unhealthy participant: don't let it open the breaker.
      out_.push_back(ReportCall{b.spec.participant, Health::kNeutral});
      b.state = BranchState::kConflict;
      b.last_error = "protocol conflict: " + r.detail;
      stuck_ = true;
      return Publish();
  }
}

void Machine::RetryAll() {
  stuck_ = false;
  for (Branch& b : branches_) {
    if (Acked(b.state)) continue;
    Cancel(b.retry);
    b.backoff = 0;
    b.state = state_ == State::kCommitting ? BranchState::kCommitting : BranchState::kAborting;
    SendPhase2(b);  // a call in flight is superseded: its reply is stale
  }
  Publish();
}

void Machine::MaybeEnd() {
  if (end_written_ || !AllAcked()) return;
  end_written_ = true;
  for (Branch& b : branches_) Cancel(b.retry);
  Append(EndRecord{gid_, "", false, {}}, false, Pending::kEnd);
  state_ = state_ == State::kCommitting ? State::kCommitted : State::kAborted;
  Publish();
}

void Machine::Halt(const Status& why) {
  state_ = State::kHalted;
  const Status s = UnknownOutcome("transaction " + gid_ + ": the coordinator's log failed (" +
                                  why.ToString() + "); recovery decides its outcome");
  for (Waiter w : outcome_waiters_) out_.push_back(Answer{w, s});
  for (auto& [seq, ws] : on_durable_) {
    for (Waiter w : ws) out_.push_back(Answer{w, s});
  }
  if (heuristic_waiter_ != 0) out_.push_back(Answer{heuristic_waiter_, s});
  outcome_waiters_.clear();
  on_durable_.clear();
  heuristic_waiter_ = 0;
}

View Machine::view() const {
  View v;
  v.gid = gid_;
  v.open = begin_.open;
  v.state = state_;
  if (state_ == State::kDeciding || state_ == State::kBeginning) v.state = State::kPreparing;
  v.reason = reason_;
  v.stuck = stuck_;
  v.heuristic = heuristic_;
  v.heuristic_mixed = mixed_;
  v.operator_id = operator_id_;
  for (const Branch& b : branches_) {
    v.branches.push_back(BranchView{b.spec, b.state, b.attempts, b.last_error});
  }
  return v;
}

std::string_view StateName(State s) {
  static constexpr std::string_view kNames[] = {
      "idle",     "beginning", "active",    "preparing", "deciding",   "committing",
      "aborting", "heuristic", "committed", "aborted",   "recovering", "halted"};
  return kNames[static_cast<std::size_t>(s)];
}

std::string_view BranchStateName(BranchState s) {
  static constexpr std::string_view kNames[] = {
      "registering", "pending",   "preparing", "prepared", "refused",  "failed",
      "committing",  "committed", "aborting",  "aborted",  "conflict", "heuristic"};
  return kNames[static_cast<std::size_t>(s)];
}

std::string_view EventName(const Event& e) {
  static constexpr std::string_view kNames[] = {
      "Start",           "RecordDurable",  "RecordFailed", "PrepareReply", "Phase2Reply",
      "TimerFired",      "RegisterBranch", "ClientCommit", "ClientAbort",  "OperatorRetry",
      "OperatorResolve", "Replayed",       "Recovered"};
  return kNames[e.index()];
}

}  // namespace txcoord::twopc
