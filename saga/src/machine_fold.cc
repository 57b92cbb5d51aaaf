// Records into saga state: Fold is the one path, taken by live records (when appended, or for
// forced ones when durable) and by replayed ones; Recovered then resumes what was interrupted.
#include "txcoord/saga/machine.h"

namespace txcoord::saga {

void Machine::Fold(const Record& r) {
  if (const auto* b = std::get_if<BeginRecord>(&r)) {
    gid_ = b->gid;
    timeout_ = b->timeout;
    steps_.clear();
    for (const StepSpec& spec : b->steps) {
      Step st;
      st.spec = spec;
      steps_.push_back(std::move(st));
    }
  } else if (const auto* s = std::get_if<StepRecord>(&r)) {
    FoldStep(*s);
  } else if (const auto* d = std::get_if<DecisionRecord>(&r)) {
    backward_ = true;
    reason_ = d->reason;
    // Steps recovered as possibly run (their lazy STARTED may be lost) are compensated too;
    // one that never ran gets a null compensation, which fences a late Execute out.
    for (Step& st : steps_) {
      if (st.maybe_ran && st.state == StepState::kPending) st.state = StepState::kFailed;
    }
  } else {
    final_ = std::get<EndRecord>(r).final_state;
  }
}

void Machine::FoldStep(const StepRecord& r) {
  Step& s = steps_[r.step];
  s.error = r.error;
  if (r.phase == StepPhase::kCompensate) {
    s.state = r.event == StepEvent::kDone ? StepState::kCompensated : StepState::kCompensating;
    return;
  }
  switch (r.event) {
    case StepEvent::kStarted:
      s.state = StepState::kExecuting;
      return;
    case StepEvent::kDone:
      s.state = StepState::kDone;
      return;
    case StepEvent::kRefused:
      s.state = StepState::kRefused;
      break;
    case StepEvent::kFailed:
      s.state = StepState::kFailed;
      break;
  }
  if (fail_reason_.empty()) {
    fail_reason_ = "step " + s.spec.step_id +
                   (r.event == StepEvent::kRefused ? " refused" : " failed") +
                   (r.error.empty() ? "" : ": " + r.error);
  }
}

Status Machine::OnReplay(const Event& e) {
  const Record& r = std::get<Replayed>(e).record;
  const bool begin = std::holds_alternative<BeginRecord>(r);
  if (state_ == MachineState::kIdle && !begin) {
    return FailedPrecondition("saga: replay must start with BEGIN");
  }
  if (state_ == MachineState::kReplaying && (begin || recovered_end_)) {
    return FailedPrecondition("saga " + gid_ + ": replayed " +
                              std::string(begin ? "a second BEGIN" : "a record after END"));
  }
  if (const auto* s = std::get_if<StepRecord>(&r); s != nullptr && s->step >= steps_.size()) {
    return InvalidArgument("saga " + gid_ + ": replayed record of step " + std::to_string(s->step) +
                           ", which BEGIN does not have");
  }
  if (std::holds_alternative<EndRecord>(r)) recovered_end_ = true;
  Fold(r);
  state_ = MachineState::kReplaying;
  return Status::Ok();
}

Status Machine::OnRecovered(const Event&) {
  if (final_) {
    state_ = MachineState::kFinished;
    return Status::Ok();
  }
  for (Step& s : steps_) {
    // An interrupted call is re-sent: forward re-executes (the barrier makes it once in
    // effect); backward treats it as possibly done and compensates it. Forward it is also
    // possibly run: if the saga turns back before re-executing it (another step of its group
    // was refused before the crash), it is compensated. (Today's engine, SagaResumeLocked,
    // leaves it pending and uncompensated: seed 271 of the simulation found it.)
    if (s.state == StepState::kExecuting) {
      s.state = backward_ ? StepState::kFailed : StepState::kPending;
      s.maybe_ran = true;
    } else if (s.state == StepState::kCompensating) {
      s.state = StepState::kFailed;
    } else if (s.state == StepState::kPending && !s.spec.compensation_action.empty()) {
      // No durable record: its lazy STARTED may be lost (a step without a compensation has a
      // forced one). Backward it is possibly done; forward it runs in its turn, and a turn
      // back compensates it (Fold of the decision).
      s.maybe_ran = true;
      if (backward_) s.state = StepState::kFailed;
    }
  }
  state_ = backward_ ? MachineState::kCompensating : MachineState::kRunning;
  Advance();
  return Status::Ok();
}

std::vector<StepInfo> Machine::Infos() const {
  std::vector<StepInfo> out;
  out.reserve(steps_.size());
  for (const Step& s : steps_) {
    // A step whose forced STARTED is on its way counts as in flight.
    const StepState st = s.started_seq != 0 ? StepState::kExecuting : s.state;
    out.push_back(StepInfo{s.spec.group, st, !s.spec.compensation_action.empty()});
  }
  return out;
}

SagaView Machine::View() const {
  SagaView v;
  v.gid = gid_;
  switch (state_) {
    case MachineState::kCompensating:
      v.state = SagaState::kCompensating;
      break;
    case MachineState::kEnding:
      v.state = backward_ ? SagaState::kCompensating : SagaState::kRunning;
      break;
    case MachineState::kFinished:
      v.state = *final_ == FinalState::kCommitted ? SagaState::kCommitted : SagaState::kCompensated;
      break;
    default:
      v.state = backward_ ? SagaState::kCompensating : SagaState::kRunning;
  }
  v.stuck = stuck_;
  v.reason = reason_;
  for (const Step& s : steps_) v.steps.push_back(StepView{s.state, s.attempts, s.error});
  return v;
}

}  // namespace txcoord::saga
