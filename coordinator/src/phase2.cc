// Phase 2: deliver commit/abort to every branch until acknowledged — capped backoff with
// jitter, per-participant circuit breaker and bounded queue; END once all acknowledged.
#include "engine.h"
#include "txcoord/core/fault.h"

namespace txcoord::coordinator {
namespace {

// Acknowledged phase 2, or settled by an operator (heuristic): never called again.
bool Acked(BranchState s) {
  return s == BranchState::kCommitted || s == BranchState::kAborted || s == BranchState::kHeuristic;
}

}  // namespace

void Engine::StartPhase2(const TxnPtr& txn, Phase2Op op, bool here) {
  struct Todo {
    std::size_t i;
    std::uint64_t generation;
    std::string participant;
  };
  std::vector<Todo> todo;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < txn->branches.size(); ++i) {
      Branch& b = txn->branches[i];
      if (Acked(b.state)) continue;
      b.state = op == Phase2Op::kCommit ? BranchState::kCommitting : BranchState::kAborting;
      todo.push_back({i, b.generation, b.participant});
    }
  }
  // As StartPrepares: the pool's branches first, then this thread's own, in order.
  std::vector<const Todo*> mine;
  for (std::size_t k = 0; k < todo.size(); ++k) {
    if (here && CallsHere(todo[k].participant, k + 1 == todo.size())) {
      mine.push_back(&todo[k]);
    } else {
      DispatchPhase2(txn->gid, todo[k].i, todo[k].generation, false);
    }
  }
  for (const Todo* t : mine) DispatchPhase2(txn->gid, t->i, t->generation, true);
  MaybeFinish(txn);
}

// Hands branch i to its participant's channel; a full queue or open breaker is not a loss:
// the branch waits for its next retry.
void Engine::DispatchPhase2(const std::string& gid, std::size_t i, std::uint64_t generation,
                            bool here) {
  if (Stopped()) return;
  TxnPtr txn;
  Phase2Op op;
  internal::ParticipantChannel* ch = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = txns_.find(gid);
    if (it == txns_.end()) return;
    txn = it->second;
    Branch& b = txn->branches[i];
    if (b.generation != generation || b.call_in_flight || Acked(b.state)) return;
    op = b.state == BranchState::kCommitting ? Phase2Op::kCommit : Phase2Op::kAbort;
    ch = ChannelFor(b.participant);
    if (ch == nullptr) {  // a participant removed from the config since the record was written
      b.last_error = "participant " + b.participant + " is not configured";
      ScheduleRetryLocked(*txn, i);
      return;
    }
    b.call_in_flight = true;
  }
  if (here && ch->TryRunHere([&] { RunPhase2(txn, i, op); })) return;
  if (ch->TrySubmit([this, txn, i, op] { RunPhase2(txn, i, op); })) return;
  std::lock_guard<std::mutex> lock(mu_);
  Branch& b = txn->branches[i];
  b.call_in_flight = false;
  b.last_error = "participant queue full";
  ScheduleRetryLocked(*txn, i);
}

Status Engine::CallPhase2(const TxnPtr& txn, std::size_t i, Phase2Op op) {
  participant::BranchId id;
  std::string name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Branch& b = txn->branches[i];
    id = participant::BranchId{cfg_.coordinator_id, txn->gid, b.branch};
    name = b.participant;
    ++b.attempts;
  }
  const std::string what = op == Phase2Op::kCommit ? "commit" : "abort";
  internal::ParticipantChannel* ch = ChannelFor(name);
  if (ch == nullptr) return Unavailable("participant " + name + " is not configured");
  if (!ch->breaker().Allow()) {
    CountCall(name, what + ".fast_fail");
    return Unavailable("circuit breaker open for " + name);
  }
  Status s = CallParticipant([&] {
    return op == Phase2Op::kCommit ? ch->participant().Commit(id) : ch->participant().Abort(id);
  });
  ch->breaker().OnResult(s);
  CountCall(name, what + (s.ok() ? ".ok" : ".error"));
  return s;
}

void Engine::RunPhase2(const TxnPtr& txn, std::size_t i, Phase2Op op) {
  if (Stopped()) return;
  const Status s = CallPhase2(txn, i, op);
  if (s.ok() && !Fault("coordinator.after_commit_ack")) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Branch& b = txn->branches[i];
    b.call_in_flight = false;
    if (txn->heuristic) {
      // An operator's forced resolve is settling the transaction and waits for this call: an
      // acknowledgement counts, a failure is not retried (SettleHeuristic decides).
      if (s.ok() && b.state != BranchState::kHeuristic) {
        b.state = op == Phase2Op::kCommit ? BranchState::kCommitted : BranchState::kAborted;
        b.last_error.clear();
      } else if (!s.ok()) {
        b.last_error = s.ToString();
      }
      txn->cv.notify_all();
      return;
    }
    if (!s.ok()) {
      b.last_error = s.ToString();
      ScheduleRetryLocked(*txn, i);
      return;
    }
    b.state = op == Phase2Op::kCommit ? BranchState::kCommitted : BranchState::kAborted;
    b.last_error.clear();
    txn->updated = clock_.WallNow();
  }
  MaybeFinish(txn);
}

void Engine::ScheduleRetryLocked(Txn& t, std::size_t i) {
  Branch& b = t.branches[i];
  const auto delay = phase2_backoff_.Delay(++b.backoff_attempt);
  After(delay, [this, gid = t.gid, i, gen = b.generation] { DispatchPhase2(gid, i, gen); });
}

void Engine::MaybeFinish(const TxnPtr& txn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (txn->state != TxnState::kCommitting && txn->state != TxnState::kAborting) return;
    if (txn->end_started) return;
    if (txn->pending_decision) return;  // a heuristic decision is being written: it ends it
    for (const Branch& b : txn->branches) {
      if (!Acked(b.state)) return;
    }
    txn->end_started = true;  // concurrent acks: only one caller writes END
  }
  if (!Fault("coordinator.before_end")) return;
  internal::v1::Record rec;
  rec.mutable_end()->set_gid(txn->gid);
  rec.mutable_end()->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  AppendLazy(rec, [&] {
    NoteLocked(*txn, rec);
    FinishLocked(*txn);
    return true;
  });
}

void Engine::FinishLocked(Txn& t) {
  std::string final_state;
  switch (t.state) {
    case TxnState::kCommitting:
      t.state = TxnState::kCommitted;
      final_state = "committed";
      ++metrics_.committed;
      break;
    case TxnState::kRunning:  // saga: every step done
      t.state = TxnState::kCommitted;
      final_state = "committed";
      ++metrics_.saga_committed;
      break;
    case TxnState::kCompensating:
      t.state = TxnState::kCompensated;
      final_state = "compensated";
      ++metrics_.compensated;
      break;
    default:
      t.state = TxnState::kAborted;
      final_state = "aborted";
      ++metrics_.aborted;
  }
  if (t.heuristic) {
    ++(t.state == TxnState::kCommitted ? metrics_.heuristic_commits : metrics_.heuristic_aborts);
    if (t.heuristic_mixed) ++metrics_.heuristic_mixed;
  }
  RemoveLiveLocked(t);
  t.updated = clock_.WallNow();
  if (in_flight_ > 0) --in_flight_;
  if (!t.idem_key.empty()) {
    if (auto it = idem_.find(t.idem_key); it != idem_.end() && it->second.gid == t.gid) {
      it->second.final_state = final_state;
      TouchIdempotencyLocked(t.idem_key);
    }
  }
  KeepFinishedLocked(t.gid);
  t.cv.notify_all();
}

void Engine::KeepFinishedLocked(const std::string& gid) {
  finished_.push_back(gid);
  ++finished_total_;
  while (finished_.size() > cfg_.max_finished_kept) {
    txns_.erase(finished_.front());
    finished_.pop_front();
  }
}

void Engine::AddLiveLocked(Txn& t) {
  t.live_slot = live_.size();
  live_.push_back(&t);
  TouchLiveLocked(t.gid);
}

void Engine::RemoveLiveLocked(Txn& t) {
  if (t.live_slot == Txn::kNotLive) return;
  Txn* last = live_.back();
  live_[t.live_slot] = last;
  last->live_slot = t.live_slot;
  live_.pop_back();
  t.live_slot = Txn::kNotLive;
  TouchLiveLocked(t.gid);
  TouchLiveLocked(last->gid);  // moved: a checkpoint walking live_ may have passed its new slot
}

Status Engine::RetryNow(const std::string& gid) {
  std::vector<std::pair<std::size_t, std::uint64_t>> todo;
  TxnPtr saga;
  std::vector<std::size_t> steps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    TXC_ASSIGN_OR_RETURN(TxnPtr found, FindLocked(gid));
    Txn& t = *found;
    if (t.heuristic) {
      return FailedPrecondition("transaction " + gid + " was resolved heuristically by " +
                                t.operator_id + "; nothing to retry");
    }
    if (t.saga) {
      TXC_RETURN_IF_ERROR(SagaRetryNowLocked(t, steps));
      saga = found;
    } else if (t.state != TxnState::kCommitting && t.state != TxnState::kAborting) {
      return FailedPrecondition("transaction " + gid + " is " + std::string(TxnStateName(t.state)) +
                                ", not in phase 2");
    } else {
      for (std::size_t i = 0; i < t.branches.size(); ++i) {
        Branch& b = t.branches[i];
        if (Acked(b.state) || b.call_in_flight) continue;
        b.backoff_attempt = 0;
        todo.emplace_back(i, ++b.generation);  // the pending retry timer becomes stale
      }
    }
  }
  for (std::size_t i : steps) SagaSend(saga, i);
  for (auto [i, gen] : todo) DispatchPhase2(gid, i, gen);
  return Status::Ok();
}

}  // namespace txcoord::coordinator
