// The saga machine's live handlers: start, durability, replies, timers, operator retry. Every
// state change goes through a record folded by Fold (machine_fold.cc), the path replay takes.
#include <set>

#include "txcoord/saga/machine.h"

namespace txcoord::saga {

Machine::Machine(MachineConfig cfg) : cfg_(cfg) {}

Status Machine::OnStart(const Event& e) {
  const Start& s = std::get<Start>(e);
  if (s.gid.empty()) return InvalidArgument("saga: empty gid");
  if (s.steps.empty()) return InvalidArgument("saga " + s.gid + ": no steps");
  std::uint32_t last = 0;
  for (const StepSpec& st : s.steps) last = std::max(last, st.group);
  std::size_t in_last = 0;
  std::set<std::string> ids;
  for (const StepSpec& st : s.steps) in_last += st.group == last ? 1 : 0;
  for (const StepSpec& st : s.steps) {
    if (st.step_id.empty() || !ids.insert(st.step_id).second) {
      return InvalidArgument("saga " + s.gid + ": step ids must be non-empty and unique");
    }
    if (st.compensation_action.empty() && (st.group != last || in_last != 1)) {
      return InvalidArgument("saga " + s.gid + ": step " + st.step_id +
                             " needs a compensation (only a step alone in the last group "
                             "may go without one)");
    }
  }
  waiter_ = s.waiter;
  gid_ = s.gid;
  state_ = MachineState::kBeginning;
  Append(BeginRecord{s.gid, s.steps, s.timeout}, /*forced=*/true);
  return Status::Ok();
}

Status Machine::OnDurable(const Event& e) {
  const std::uint64_t seq = std::get<RecordDurable>(e).seq;
  if (seq == 0 || seq >= next_seq_) {
    return InvalidArgument("saga " + gid_ + ": RecordDurable for seq " + std::to_string(seq) +
                           ", never appended");
  }
  if (pending_.empty() || pending_.begin()->first > seq) {
    Ignore("record " + std::to_string(seq) + " is lazy or already durable");
    return Status::Ok();
  }
  // WAL order: this record's durability covers every earlier one.
  while (!pending_.empty() && pending_.begin()->first <= seq) {
    Record r = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    Durable(r);
  }
  return Status::Ok();
}

// A forced record is durable: fold it and do what waited for it.
void Machine::Durable(const Record& r) {
  Fold(r);
  if (std::holds_alternative<BeginRecord>(r)) {
    state_ = MachineState::kRunning;
    if (waiter_ != 0) Emit(Answer{waiter_, Status::Ok(), View()});
    waiter_ = 0;
    Advance();
  } else if (const auto* st = std::get_if<StepRecord>(&r)) {
    Step& s = steps_[st->step];  // a forced STARTED: a step without compensation
    s.started_seq = 0;
    Send(st->step);
  } else if (std::holds_alternative<DecisionRecord>(r)) {
    state_ = MachineState::kCompensating;
    Advance();
  } else {
    state_ = MachineState::kFinished;
  }
}

Status Machine::OnLogFailed(const Event& e) {
  const RecordFailed& f = std::get<RecordFailed>(e);
  if (f.seq == 0 || f.seq >= next_seq_) {
    return InvalidArgument("saga " + gid_ + ": RecordFailed for seq " + std::to_string(f.seq) +
                           ", never appended");
  }
  if (state_ == MachineState::kBeginning && waiter_ != 0) {
    Emit(Answer{waiter_, Unavailable("saga " + gid_ + ": BEGIN not durable: " + f.error), {}});
    waiter_ = 0;
  }
  for (Step& s : steps_) CancelTimers(s);
  pending_.clear();
  state_ = MachineState::kHalted;
  return Status::Ok();
}

Status Machine::OnHalted(const Event&) {
  Ignore("halted after a log failure: recovery rebuilds the saga");
  return Status::Ok();
}

Status Machine::CheckReply(std::uint32_t step, std::uint64_t call, bool compensate) {
  if (step >= steps_.size() || call == 0 || call >= next_call_) {
    return InvalidArgument("saga " + gid_ + ": reply for step " + std::to_string(step) + " call " +
                           std::to_string(call) + ", never made");
  }
  const Step& s = steps_[step];
  if (s.call != call) return Status::Ok();  // stale; the caller ignores it
  const bool compensating = s.state == StepState::kCompensating;
  if (compensating != compensate) {
    return InvalidArgument("saga " + gid_ + ": " + (compensate ? "Compensate" : "Execute") +
                           " reply for call " + std::to_string(call) + " of step " +
                           std::to_string(step) + ", which is " +
                           std::string(StepStateName(s.state)));
  }
  return Status::Ok();
}

Status Machine::OnExecuteReply(const Event& e) {
  const ExecuteReply& r = std::get<ExecuteReply>(e);
  TXC_RETURN_IF_ERROR(CheckReply(r.step, r.call, false));
  Step& s = steps_[r.step];
  if (s.call != r.call) {
    Ignore("stale Execute reply (call " + std::to_string(r.call) + ")");
    return Status::Ok();
  }
  s.call = 0;
  switch (r.outcome) {
    case ExecuteOutcome::kDone:
      Finish(r.step, StepRecord{r.step, StepPhase::kForward, StepEvent::kDone, ""});
      return Status::Ok();
    case ExecuteOutcome::kRefused:
      Finish(r.step,
             StepRecord{r.step, StepPhase::kForward, StepEvent::kRefused, "refused: " + r.error});
      return Status::Ok();
    case ExecuteOutcome::kError:
    case ExecuteOutcome::kUnknown:
      break;
  }
  // Transient errors and unknown outcomes re-send the same Execute (the participant's barrier
  // makes it once in effect) until the attempts or the deadline are spent.
  s.error = r.error;
  const bool retry = r.outcome == ExecuteOutcome::kUnknown || r.retryable;
  ++s.backoff_attempt;
  if (retry && s.attempts < cfg_.step_max_attempts && !s.deadline_passed) {
    ArmRetry(r.step, TimerKind::kRetryExecute);
  } else {
    GiveUp(r.step);
  }
  return Status::Ok();
}

Status Machine::OnCompensateReply(const Event& e) {
  const CompensateReply& r = std::get<CompensateReply>(e);
  TXC_RETURN_IF_ERROR(CheckReply(r.step, r.call, true));
  Step& s = steps_[r.step];
  if (s.call != r.call) {
    Ignore("stale Compensate reply (call " + std::to_string(r.call) + ")");
    return Status::Ok();
  }
  s.call = 0;
  if (r.outcome == CompensateOutcome::kOk) {
    AppendFolded(StepRecord{r.step, StepPhase::kCompensate, StepEvent::kDone, ""});
    if (stuck_ && !stuck_missing_) {
      stuck_ = false;
      for (const Step& o : steps_) {
        if (o.state == StepState::kCompensating && o.attempts >= cfg_.stuck_after) stuck_ = true;
      }
    }
    Advance();
    return Status::Ok();
  }
  // Compensations are retried until they succeed (or a person resolves the saga).
  s.error = r.error;
  if (s.attempts >= cfg_.stuck_after && !stuck_) {
    stuck_ = true;
    reason_ = "stuck: compensation of step " + s.spec.step_id + " (" + s.spec.participant +
              ") failed " + std::to_string(s.attempts) + " times: " + s.error;
  }
  ++s.backoff_attempt;
  ArmRetry(r.step, TimerKind::kRetryCompensate);
  return Status::Ok();
}

Status Machine::OnTimer(const Event& e) {
  const std::uint64_t id = std::get<TimerFired>(e).timer;
  if (id == 0 || id >= next_timer_) {
    return InvalidArgument("saga " + gid_ + ": timer " + std::to_string(id) + ", never armed");
  }
  for (std::uint32_t i = 0; i < steps_.size(); ++i) {
    Step& s = steps_[i];
    if (s.retry_timer == id) {
      s.retry_timer = 0;
      Send(i);
      return Status::Ok();
    }
    if (s.deadline_timer == id) {
      s.deadline_timer = 0;
      s.deadline_passed = true;
      // Waiting for a retry: give up now. A call in flight (or a forced STARTED not yet
      // durable) gets its answer; an error then gives up instead of retrying.
      if (s.state == StepState::kExecuting && s.call == 0) GiveUp(i);
      return Status::Ok();
    }
  }
  Ignore("stale timer " + std::to_string(id));
  return Status::Ok();
}

Status Machine::OnRetry(const Event&) {
  // Operator "retry now": steps waiting for a retry are called at once, backoff reset.
  for (std::uint32_t i = 0; i < steps_.size(); ++i) {
    Step& s = steps_[i];
    if (s.retry_timer == 0) continue;
    Emit(CancelTimer{s.retry_timer});
    s.retry_timer = 0;
    s.backoff_attempt = 0;
    Send(i);
  }
  return Status::Ok();
}

Status Machine::OnRetryFinal(const Event&) {
  return FailedPrecondition("saga " + gid_ + " is " + std::string(SagaStateName(View().state)));
}

std::uint64_t Machine::Append(Record r, bool forced) {
  const std::uint64_t seq = next_seq_++;
  if (forced) pending_.emplace(seq, r);
  Emit(AppendRecord{seq, std::move(r), forced});
  return seq;
}

void Machine::AppendFolded(Record r) {
  Fold(r);
  Append(std::move(r), /*forced=*/false);
}

// Starts what the planner says can start; turns back or ends when it is time.
void Machine::Advance() {
  if (state_ != MachineState::kRunning && state_ != MachineState::kCompensating) return;
  const std::vector<StepInfo> infos = Infos();
  if (state_ == MachineState::kRunning && MustCompensate(infos)) {
    // Forced: no compensation before it is durable, also after recovery.
    Append(DecisionRecord{fail_reason_.empty() ? "a step failed" : fail_reason_}, true);
    state_ = MachineState::kTurningBack;
    return;
  }
  const Plan plan = backward_ ? NextBackward(infos) : NextForward(infos);
  if (plan.stuck) {
    if (stuck_missing_) return;
    Step& s = steps_[plan.stuck_step];
    stuck_ = stuck_missing_ = true;
    s.error = "step must be compensated but has no compensation";
    reason_ = "stuck: step " + s.spec.step_id + " (" + s.spec.participant +
              ") must be compensated but has no compensation";
    return;
  }
  if (plan.finished) {
    Append(EndRecord{backward_ ? FinalState::kCompensated : FinalState::kCommitted}, true);
    state_ = MachineState::kEnding;
    return;
  }
  for (std::size_t i : plan.start) StartStep(static_cast<std::uint32_t>(i));
}

void Machine::StartStep(std::uint32_t i) {
  Step& s = steps_[i];
  s.attempts = 0;
  s.backoff_attempt = 0;
  s.deadline_passed = false;
  if (backward_) {
    AppendFolded(StepRecord{i, StepPhase::kCompensate, StepEvent::kStarted, s.error});
    Send(i);
    return;
  }
  s.deadline_timer = next_timer_++;
  Emit(ArmTimer{s.deadline_timer, TimerKind::kStepDeadline, i, 0, timeout_});
  StepRecord r{i, StepPhase::kForward, StepEvent::kStarted, s.error};
  if (s.spec.compensation_action.empty()) {
    // Forced for a step without a compensation: recovery must never take it as possibly run
    // unless it may really have run (it cannot be undone). The call waits for durability.
    s.started_seq = Append(std::move(r), /*forced=*/true);
    return;
  }
  // Lazy: lost in a crash, the step is recovered pending but possibly run (maybe_ran).
  AppendFolded(std::move(r));
  Send(i);
}

void Machine::Send(std::uint32_t i) {
  Step& s = steps_[i];
  s.call = next_call_++;
  ++s.attempts;
  if (s.state == StepState::kCompensating) {
    Emit(CallCompensate{i, s.call});
  } else {
    Emit(CallExecute{i, s.call});
  }
}

void Machine::GiveUp(std::uint32_t i) {
  Finish(i, StepRecord{i, StepPhase::kForward, StepEvent::kFailed, steps_[i].error});
}

void Machine::Finish(std::uint32_t i, StepRecord r) {
  CancelTimers(steps_[i]);
  AppendFolded(std::move(r));
  Advance();
}

void Machine::CancelTimers(Step& s) {
  for (std::uint64_t* t : {&s.retry_timer, &s.deadline_timer}) {
    if (*t != 0) Emit(CancelTimer{*t});
    *t = 0;
  }
}

void Machine::ArmRetry(std::uint32_t i, TimerKind kind) {
  Step& s = steps_[i];
  s.retry_timer = next_timer_++;
  Emit(ArmTimer{s.retry_timer, kind, i, s.backoff_attempt, {}});
}

}  // namespace txcoord::saga
