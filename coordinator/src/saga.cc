// Sagas on the engine (docs/saga.md): validation and admission, the driver that asks the pure
// planner (txcoord::saga) what to do next, turning back, END, recovery and checkpoints.
#include "engine.h"
#include "txcoord/core/fault.h"
#include "txcoord/saga/plan.h"

namespace txcoord::coordinator {

using internal::v1::Decision;
using internal::v1::Record;
using internal::v1::SagaStep;

namespace {

saga::StepState ToStep(BranchState s) {
  switch (s) {
    case BranchState::kExecuting:
      return saga::StepState::kExecuting;
    case BranchState::kDone:
      return saga::StepState::kDone;
    case BranchState::kRefused:
      return saga::StepState::kRefused;
    case BranchState::kFailed:
      return saga::StepState::kFailed;
    case BranchState::kCompensating:
      return saga::StepState::kCompensating;
    case BranchState::kCompensated:
      return saga::StepState::kCompensated;
    default:
      return saga::StepState::kPending;
  }
}

std::vector<saga::StepInfo> StepInfos(const Txn& t) {
  std::vector<saga::StepInfo> out;
  out.reserve(t.branches.size());
  for (const Branch& b : t.branches) {
    out.push_back(saga::StepInfo{b.group, ToStep(b.state), !b.comp_action.empty()});
  }
  return out;
}

// The saga whose SubmitSaga runs on this thread with a waiting caller, and until when its steps
// may start here (SagaRequest::caller_waits).
struct InlineSaga {
  const Txn* txn = nullptr;
  std::chrono::steady_clock::time_point until{};
};
thread_local InlineSaga inline_saga;

bool RunsHere(const Txn& t) {
  return inline_saga.txn == &t && std::chrono::steady_clock::now() < inline_saga.until;
}

}  // namespace

Result<Engine::TxnPtr> Engine::BuildSaga(const SagaRequest& r) const {
  TXC_ASSIGN_OR_RETURN(TxnPtr txn, NewTxn(r, r.steps.size(), "saga", "steps"));
  std::uint32_t last_group = 0;
  for (const SagaStepRequest& s : r.steps) last_group = std::max(last_group, s.group);
  std::size_t in_last_group = 0;
  for (const SagaStepRequest& s : r.steps) in_last_group += s.group == last_group ? 1 : 0;
  txn->saga = true;
  txn->state = TxnState::kRunning;
  const auto incarnation = static_cast<std::uint32_t>(random_.Next());
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    const SagaStepRequest& s = r.steps[i];
    Branch out;
    out.participant = s.participant;
    out.action = s.action;
    out.payload = s.payload;
    out.comp_action = s.compensation_action;
    out.comp_payload = s.compensation_payload;
    out.group = s.group;
    const std::string where = "step " + std::to_string(i) + " (" + s.participant + ")";
    Result<std::string> id = Incarnate(s.branch, 's', i, incarnation);
    if (!id.ok()) return InvalidArgument(where + ": " + id.status().message());
    out.branch = std::move(*id);
    TXC_RETURN_IF_ERROR(CheckBranch(*txn, out, where));
    if (s.compensation_action.empty()) {
      if (s.group != last_group || in_last_group != 1) {
        return InvalidArgument(where +
                               ": a compensation is required (only a step alone in the last "
                               "group may go without one)");
      }
    } else if (Status st = CallParticipant([&] {
                 // CheckBranch made sure the participant exists.
                 return parts_.at(s.participant)
                     ->Validate(s.compensation_action, s.compensation_payload);
               });
               !st.ok()) {
      return InvalidArgument(where + ": compensation: " + st.message());
    }
    txn->branches.push_back(std::move(out));
  }
  return txn;
}

Result<SubmitReply> Engine::SubmitSaga(const SagaRequest& request) {
  TXC_ASSIGN_OR_RETURN(TxnPtr txn, CountRejected(BuildSaga(request)));
  TXC_ASSIGN_OR_RETURN(std::optional<SubmitReply> early,
                       AdmitAndBegin(txn, "saga.after_begin_durable", "recovery resumes it"));
  if (early) return *early;
  SubmitReply reply;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reply.txn = ViewLocked(*txn);
  }
  if (request.caller_waits.count() > 0) {
    const InlineSaga outer = inline_saga;
    inline_saga = {txn.get(), std::chrono::steady_clock::now() + request.caller_waits};
    SagaAdvance(txn);
    inline_saga = outer;
  } else {
    SagaAdvance(txn);
  }
  return reply;
}

// Starts whatever the planner says can start now. Called after every step outcome; steps are
// marked in flight under mu_, so concurrent callers never start one step twice.
void Engine::SagaAdvance(const TxnPtr& txn) {
  for (;;) {
    if (Stopped()) return;
    saga::Plan plan;
    bool backward = false;
    bool turn_back = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (IsFinal(txn->state) || txn->end_started) return;
      const std::vector<saga::StepInfo> steps = StepInfos(*txn);
      backward = txn->state == TxnState::kCompensating;
      if (!backward && saga::MustCompensate(steps)) {
        turn_back = true;
      } else {
        plan = backward ? saga::NextBackward(steps) : saga::NextForward(steps);
        if (plan.stuck) {
          Branch& b = txn->branches[plan.stuck_step];
          txn->stuck = txn->stuck_missing = true;
          b.last_error = "step must be compensated but has no compensation";
          txn->reason = "stuck: step " + b.branch + " (" + b.participant +
                        ") must be compensated but has no compensation";
          txn->updated = clock_.WallNow();
          txn->cv.notify_all();
          return;
        }
        if (plan.finished) txn->end_started = true;
        for (std::size_t i : plan.start) {
          Branch& b = txn->branches[i];
          b.state = backward ? BranchState::kCompensating : BranchState::kExecuting;
          b.attempts = 0;
          b.backoff_attempt = 0;
          b.deadline = std::chrono::steady_clock::now() + txn->timeout;
        }
      }
    }
    if (turn_back) {
      SagaTurnBack(txn);
      if (Stopped()) return;
      continue;
    }
    if (plan.finished) return SagaEnd(txn, backward);
    const bool here = RunsHere(*txn);
    for (std::size_t k = 0; k < plan.start.size(); ++k) {
      SagaStartStep(txn, plan.start[k], backward, here && k + 1 == plan.start.size());
    }
    return;
  }
}

// Forced ABORT decision: from here on the saga only goes backward, also after recovery.
void Engine::SagaTurnBack(const TxnPtr& txn) {
  Record rec;
  Decision* d = rec.mutable_decision();
  d->set_gid(txn->gid);
  d->set_outcome(Decision::ABORT);
  d->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  AppendForced(rec, [&]() -> Result<bool> {
    if (txn->state != TxnState::kRunning || txn->heuristic) return false;
    // Recovered steps that may have run before the restart are compensated too. Replay of
    // this ABORT takes every pending step with a compensation as possibly done again.
    for (Branch& b : txn->branches) {
      if (b.maybe_ran && b.state == BranchState::kPending) b.state = BranchState::kFailed;
    }
    std::string why = txn->fail_reason.empty() ? "a step failed" : txn->fail_reason;
    d->set_reason(why);
    NoteLocked(*txn, rec);
    txn->state = TxnState::kCompensating;
    txn->reason = why;
    txn->updated = clock_.WallNow();
    RecordLatencyLocked(*txn);
    txn->cv.notify_all();
    return true;
  }).IgnoreError();  // a failed append fail-stops the engine; recovery turns back again
}

// Forced END; the saga reads as final only once it is durable.
void Engine::SagaEnd(const TxnPtr& txn, bool compensated) {
  if (!Fault("saga.before_end")) return;
  Record rec;
  rec.mutable_end()->set_gid(txn->gid);
  rec.mutable_end()->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  rec.mutable_end()->set_final_state(compensated ? "compensated" : "committed");
  Status s = AppendForced(rec, [&]() -> Result<bool> {
    if (!compensated) RecordLatencyLocked(*txn);
    NoteLocked(*txn, rec);
    return true;
  });
  if (!s.ok()) return;  // fail-stopped; recovery writes END again
  std::lock_guard<std::mutex> lock(mu_);
  FinishLocked(*txn);
}

void Engine::SagaStepsOf(const internal::ReplayTxn& rt, Txn& txn) {
  txn.saga = true;
  for (const auto& p : rt.begin.branches()) {
    Branch br;
    br.participant = p.participant();
    br.action = p.action();
    br.branch = p.branch();
    for (const auto& [k, v] : p.payload()) br.payload.emplace(k, v);
    br.comp_action = p.compensation_action();
    for (const auto& [k, v] : p.compensation_payload()) br.comp_payload.emplace(k, v);
    br.group = p.group();
    txn.branches.push_back(std::move(br));
  }
  for (const SagaStep& s : rt.saga_steps) {
    if (s.step() >= txn.branches.size()) continue;
    Branch& b = txn.branches[s.step()];
    if (!s.error().empty()) b.last_error = s.error();
    if (s.phase() == SagaStep::COMPENSATE) {
      b.state =
          s.event() == SagaStep::DONE ? BranchState::kCompensated : BranchState::kCompensating;
      continue;
    }
    switch (s.event()) {
      case SagaStep::STARTED:
        b.state = BranchState::kExecuting;
        break;
      case SagaStep::DONE:
        b.state = BranchState::kDone;
        break;
      case SagaStep::REFUSED:
        b.state = BranchState::kRefused;
        if (txn.fail_reason.empty()) txn.fail_reason = "step " + b.branch + " refused";
        break;
      default:
        b.state = BranchState::kFailed;
        if (txn.fail_reason.empty()) txn.fail_reason = "step " + b.branch + " failed";
    }
  }
}

void Engine::SagaResumeLocked(const internal::ReplayTxn& rt, Txn& txn) {
  SagaStepsOf(rt, txn);
  const bool backward = rt.decision.outcome() == Decision::ABORT;
  txn.state = backward ? TxnState::kCompensating : TxnState::kRunning;
  txn.reason = rt.decision.reason();
  for (Branch& b : txn.branches) {
    // An interrupted call is re-sent: forward re-executes (the barrier makes it once in
    // effect); backward treats it as possibly done and compensates it.
    // Forward it is also possibly done: should the saga turn back before it re-executes (a
    // step of its group was refused), it is compensated (a null compensation if it never ran).
    if (b.state == BranchState::kExecuting) {
      b.state = backward ? BranchState::kFailed : BranchState::kPending;
      b.maybe_ran = true;
    } else if (b.state == BranchState::kCompensating) {
      b.state = BranchState::kFailed;
    } else if (b.state == BranchState::kPending && !b.comp_action.empty()) {
      // No durable record: its lazy STARTED may have been lost (a step without a compensation
      // has a forced one). Going backward it is possibly done; forward it waits its turn, and
      // a turn back compensates it (SagaTurnBack).
      b.maybe_ran = true;
      if (backward) b.state = BranchState::kFailed;
    }
  }
}

void Engine::SagaSnapshotLocked(const Txn& t, internal::v1::TxnSnapshot& s) const {
  if (t.state == TxnState::kCompensating) {
    Decision* d = s.mutable_decision();
    d->set_gid(t.gid);
    d->set_outcome(Decision::ABORT);
    d->set_reason(t.reason);
  }
  for (std::size_t i = 0; i < t.branches.size(); ++i) {
    const Branch& b = t.branches[i];
    auto add = [&](SagaStep::Phase phase, SagaStep::Event event) {
      SagaStep* r = s.add_saga_steps();
      r->set_gid(t.gid);
      r->set_step(static_cast<std::uint32_t>(i));
      r->set_phase(phase);
      r->set_event(event);
      r->set_error(b.last_error);
    };
    switch (b.state) {
      case BranchState::kExecuting:
        add(SagaStep::FORWARD, SagaStep::STARTED);
        break;
      case BranchState::kDone:
        add(SagaStep::FORWARD, SagaStep::DONE);
        break;
      case BranchState::kRefused:
        add(SagaStep::FORWARD, SagaStep::REFUSED);
        break;
      case BranchState::kFailed:
        add(SagaStep::FORWARD, SagaStep::FAILED);
        break;
      case BranchState::kCompensating:
        add(SagaStep::FORWARD, SagaStep::FAILED);
        add(SagaStep::COMPENSATE, SagaStep::STARTED);
        break;
      case BranchState::kCompensated:
        add(SagaStep::FORWARD, SagaStep::FAILED);
        add(SagaStep::COMPENSATE, SagaStep::DONE);
        break;
      default:
        break;
    }
  }
}

Status Engine::SagaRetryNowLocked(Txn& t, std::vector<std::size_t>& todo) {
  if (IsFinal(t.state)) {
    return FailedPrecondition("saga " + t.gid + " is " + std::string(TxnStateName(t.state)));
  }
  for (std::size_t i = 0; i < t.branches.size(); ++i) {
    Branch& b = t.branches[i];
    if (b.call_in_flight) continue;
    if (b.state != BranchState::kCompensating && b.state != BranchState::kExecuting) continue;
    b.backoff_attempt = 0;
    ++b.generation;  // the pending retry timer becomes stale
    todo.push_back(i);
  }
  return Status::Ok();
}

}  // namespace txcoord::coordinator
