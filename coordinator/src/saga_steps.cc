// Saga step calls: STARTED record, Execute/Compensate on the participant's channel, the
// outcome record, retries. Forward: transient errors retry with capped backoff up to
// Config::saga_step_max_attempts or the step deadline, then the step counts as failed
// (possibly done). Backward: compensations retry forever; past Config::saga_stuck_after
// attempts the saga is flagged stuck (visible in the API and metrics).
#include "engine.h"
#include "txcoord/core/fault.h"

namespace txcoord::coordinator {

using internal::v1::Record;
using internal::v1::SagaStep;

void Engine::SagaStepRecord(const TxnPtr& txn, std::size_t i, int phase, int event,
                            const std::function<void(Branch&)>& mutate) {
  Record rec;
  SagaStep* r = rec.mutable_saga_step();
  r->set_gid(txn->gid);
  r->set_step(static_cast<std::uint32_t>(i));
  r->set_phase(static_cast<SagaStep::Phase>(phase));
  r->set_event(static_cast<SagaStep::Event>(event));
  r->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  auto apply = [&] {
    Branch& b = txn->branches[i];
    // An operator's forced resolve ended the saga (or is ending it): late outcomes change
    // nothing.
    if (txn->heuristic) {
      b.call_in_flight = false;
      return false;
    }
    if (mutate) mutate(b);
    r->set_error(b.last_error);
    NoteLocked(*txn, rec);
    txn->updated = clock_.WallNow();
    txn->cv.notify_all();
    return true;
  };
  if (event == SagaStep::STARTED && phase == SagaStep::FORWARD &&
      txn->branches[i].comp_action.empty()) {
    // Forced for a step without a compensation: recovery must never take it as possibly run
    // unless it may really have run (it cannot be undone; see SagaResumeLocked).
    AppendForced(rec, [&]() -> Result<bool> {
      return apply();
    }).IgnoreError();  // a failed append fail-stops the engine (Stopped() turns true)
    return;
  }
  // Lazy: durable with the next forced record (END, the ABORT decision, a forced STARTED).
  // Lost in a crash, a STARTED leaves its step recovered as pending but possibly run
  // (Branch::maybe_ran); a lost outcome leaves it started. Either way recovery re-executes it
  // going forward, or compensates it going backward; the participant's barrier makes a second
  // Execute return the first answer, and a Compensate of a step that never ran a null one.
  AppendLazy(rec, apply);
}

void Engine::SagaStartStep(const TxnPtr& txn, std::size_t i, bool backward, bool here) {
  SagaStepRecord(txn, i, backward ? SagaStep::COMPENSATE : SagaStep::FORWARD, SagaStep::STARTED,
                 nullptr);
  if (Stopped()) return;
  if (!Fault(backward ? "saga.after_compensation_started" : "saga.after_step_started")) return;
  SagaSend(txn, i, here);
}

void Engine::SagaSend(const TxnPtr& txn, std::size_t i, bool here) {
  if (Stopped()) return;
  internal::ParticipantChannel* ch = ChannelFor(txn->branches[i].participant);
  {
    std::lock_guard<std::mutex> lock(mu_);
    Branch& b = txn->branches[i];
    if (b.call_in_flight) return;
    if (b.state != BranchState::kExecuting && b.state != BranchState::kCompensating) return;
    if (ch == nullptr) {
      b.last_error = "participant " + b.participant + " is not configured";
    } else {
      b.call_in_flight = true;
    }
  }
  if (ch == nullptr) {
    const bool backward = txn->branches[i].state == BranchState::kCompensating;
    if (backward) return SagaCompensateResult(txn, i, Unavailable("participant not configured"));
    return SagaForwardResult(txn, i, Unavailable("participant not configured"));
  }
  if (here) {
    // The slot is held for the call only: the outcome, and with it the next step, is handled
    // after it is given back (nested steps must not pile up slots).
    std::optional<SagaOutcome> out;
    if (ch->TryRunHere([&] { out = SagaCall(txn, i); })) {
      if (out) SagaDeliver(txn, i, *out);
      return;
    }
  }
  if (ch->TrySubmit([this, txn, i] { SagaRun(txn, i); })) return;
  bool backward = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    txn->branches[i].call_in_flight = false;
    backward = txn->branches[i].state == BranchState::kCompensating;
  }
  const Status full = Unavailable("participant queue full");
  if (backward) return SagaCompensateResult(txn, i, full);
  SagaForwardResult(txn, i, full);
}

void Engine::SagaRun(const TxnPtr& txn, std::size_t i) {
  if (std::optional<SagaOutcome> out = SagaCall(txn, i)) SagaDeliver(txn, i, *out);
}

void Engine::SagaDeliver(const TxnPtr& txn, std::size_t i, const SagaOutcome& out) {
  if (out.backward) return SagaCompensateResult(txn, i, out.status);
  if (!out.executed) return SagaForwardResult(txn, i, out.status);
  SagaForwardResult(txn, i, *out.executed);
}

std::optional<Engine::SagaOutcome> Engine::SagaCall(const TxnPtr& txn, std::size_t i) {
  if (Stopped()) return std::nullopt;
  participant::BranchCall call;
  std::string name;
  bool backward = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Branch& b = txn->branches[i];
    backward = b.state == BranchState::kCompensating;
    call = {participant::BranchId{cfg_.coordinator_id, txn->gid, b.branch},
            backward ? b.comp_action : b.action, backward ? b.comp_payload : b.payload};
    name = b.participant;
    ++b.attempts;
  }
  internal::ParticipantChannel* ch = ChannelFor(name);
  const char* what = backward ? "compensate" : "execute";
  SagaOutcome out;
  out.backward = backward;
  if (!ch->breaker().Allow()) {
    CountCall(name, std::string(what) + ".fast_fail");
    out.status = Unavailable("circuit breaker open for " + name);
    return out;
  }
  if (backward) {
    out.status = CallParticipant([&] { return ch->participant().Compensate(call); });
    ch->breaker().OnResult(out.status);
    CountCall(name, out.status.ok() ? "compensate.ok" : "compensate.error");
    return out;
  }
  Result<participant::ExecuteResult> r =
      CallParticipant([&] { return ch->participant().Execute(call); });
  ch->breaker().OnResult(r.status());
  CountCall(name, !r.ok()                                     ? "execute.error"
                  : r->outcome == participant::Outcome::kDone ? "execute.done"
                                                              : "execute.refused");
  out.executed = std::move(r);
  return out;
}

void Engine::SagaForwardResult(const TxnPtr& txn, std::size_t i,
                               const Result<participant::ExecuteResult>& r) {
  const bool done = r.ok() && r->outcome == participant::Outcome::kDone;
  if (r.ok()) {
    SagaStepRecord(txn, i, SagaStep::FORWARD, done ? SagaStep::DONE : SagaStep::REFUSED,
                   [&](Branch& b) {
                     b.call_in_flight = false;
                     b.state = done ? BranchState::kDone : BranchState::kRefused;
                     b.last_error = done ? "" : "refused: " + r->reason;
                     if (!done && txn->fail_reason.empty()) {
                       txn->fail_reason = "step " + b.branch + " refused: " + r->reason;
                     }
                   });
    if (Stopped()) return;
    if (!Fault(done ? "saga.after_step_done" : "saga.after_step_refused")) return;
    return SagaAdvance(txn);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Branch& b = txn->branches[i];
    b.call_in_flight = false;
    if (txn->heuristic) return;  // ended by an operator's forced resolve
    b.last_error = r.status().ToString();
    const Reaction re = r.status().reaction();
    const auto delay = saga_backoff_.Delay(++b.backoff_attempt);
    if ((re == Reaction::kRetryCall || re == Reaction::kResolveUnknown) &&
        b.attempts < cfg_.saga_step_max_attempts &&
        std::chrono::steady_clock::now() + delay < b.deadline) {
      After(delay, [this, txn, i, gen = b.generation] {
        {
          std::lock_guard<std::mutex> relock(mu_);
          if (txn->branches[i].generation != gen) return;
        }
        SagaSend(txn, i);
      });
      return;
    }
  }
  SagaStepRecord(txn, i, SagaStep::FORWARD, SagaStep::FAILED, [&](Branch& b) {
    b.state = BranchState::kFailed;
    if (txn->fail_reason.empty()) {
      txn->fail_reason = "step " + b.branch + " failed after " + std::to_string(b.attempts) +
                         " attempts: " + b.last_error;
    }
  });
  if (Stopped()) return;
  SagaAdvance(txn);
}

void Engine::SagaCompensateResult(const TxnPtr& txn, std::size_t i, const Status& s) {
  if (s.ok()) {
    SagaStepRecord(txn, i, SagaStep::COMPENSATE, SagaStep::DONE, [&](Branch& b) {
      b.call_in_flight = false;
      b.state = BranchState::kCompensated;
      b.last_error.clear();
      if (txn->stuck && !txn->stuck_missing) {
        txn->stuck = false;
        for (const Branch& o : txn->branches) {
          if (o.state == BranchState::kCompensating && o.attempts >= cfg_.saga_stuck_after) {
            txn->stuck = true;
          }
        }
      }
    });
    if (Stopped()) return;
    if (!Fault("saga.after_compensation_done")) return;
    return SagaAdvance(txn);
  }
  std::lock_guard<std::mutex> lock(mu_);
  Branch& b = txn->branches[i];
  b.call_in_flight = false;
  if (txn->heuristic) return;  // ended by an operator's forced resolve
  b.last_error = s.ToString();
  if (b.attempts >= cfg_.saga_stuck_after && !txn->stuck) {
    txn->stuck = true;
    txn->reason = "stuck: compensation of step " + b.branch + " (" + b.participant + ") failed " +
                  std::to_string(b.attempts) + " times: " + b.last_error;
    txn->cv.notify_all();
  }
  const auto delay = phase2_backoff_.Delay(++b.backoff_attempt);
  After(delay, [this, txn, i, gen = b.generation] {
    {
      std::lock_guard<std::mutex> relock(mu_);
      if (txn->branches[i].generation != gen) return;
    }
    SagaSend(txn, i);
  });
}

}  // namespace txcoord::coordinator
