// The saga machine simulation (machine_sim.h).
#include "machine_sim.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace txcoord::saga::sim {

SagaSim::SagaSim(std::uint64_t seed) : seed_(seed), rng_(seed) {
  const std::size_t n = 1 + R(5);
  const bool grouped = P(40);
  const bool last_without = P(25);
  for (std::size_t i = 0; i < n; ++i) {
    StepSpec s;
    s.participant = "p" + std::to_string(i % 2);
    s.action = "do";
    s.compensation_action = "undo";
    s.group = grouped ? static_cast<std::uint32_t>(R(3)) : static_cast<std::uint32_t>(i);
    s.step_id = "s" + std::to_string(i) + ".inc";
    specs_.push_back(std::move(s));
    refuses_.push_back(P(12));
  }
  std::uint32_t last = 0;
  for (const StepSpec& s : specs_) last = std::max(last, s.group);
  if (last_without) {
    specs_.back().group = last + 1;  // alone in the last group
    specs_.back().compensation_action.clear();
  }
  cfg_ = MachineConfig{1 + static_cast<std::uint32_t>(R(5)), 1 + static_cast<std::uint32_t>(R(4))};
  store_.resize(n);
}

void SagaSim::Fail(const std::string& why) {
  if (failure_.empty()) failure_ = why;
}

bool SagaSim::DurableHas(const std::function<bool(const Record&)>& pred) const {
  return std::any_of(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(durable_), pred);
}

void SagaSim::Apply(const Event& e) {
  if (!m_ || !failure_.empty()) return;
  ++events_;
  Result<Effects> r = m_->Apply(e);
  if (std::getenv("TXC_SAGA_TRACE") != nullptr) Trace(e, r);
  if (!r.ok()) return Fail("rejected " + std::string(EventName(e)) + ": " + r.status().ToString());
  for (const Effect& x : r->effects) Handle(x);
}

void SagaSim::Trace(const Event& e, const Result<Effects>& r) const {
  std::cerr << "[" << incarnation_ << "] " << EventName(e);
  if (const auto* x = std::get_if<ExecuteReply>(&e)) {
    std::cerr << " step " << x->step << " outcome " << int(x->outcome) << " call " << x->call;
  } else if (const auto* c = std::get_if<CompensateReply>(&e)) {
    std::cerr << " step " << c->step << " outcome " << int(c->outcome) << " call " << c->call;
  } else if (const auto* p = std::get_if<Replayed>(&e)) {
    std::cerr << " record " << p->record.index();
    if (const auto* st = std::get_if<StepRecord>(&p->record)) {
      std::cerr << " step " << st->step << " phase " << int(st->phase) << " ev " << int(st->event);
    }
  }
  std::cerr << " -> " << MachineStateName(m_->state());
  if (!r.ok()) std::cerr << " ERROR " << r.status().ToString();
  if (r.ok()) {
    for (const Effect& x : r->effects) {
      if (const auto* a = std::get_if<AppendRecord>(&x)) {
        std::cerr << "\n    append " << a->seq << " rec " << a->record.index()
                  << (a->forced ? " forced" : "");
        if (const auto* st = std::get_if<StepRecord>(&a->record)) {
          std::cerr << " step " << st->step << " phase " << int(st->phase) << " ev "
                    << int(st->event);
        }
      } else if (const auto* c = std::get_if<CallExecute>(&x)) {
        std::cerr << "\n    execute " << c->step << " call " << c->call;
      } else if (const auto* k = std::get_if<CallCompensate>(&x)) {
        std::cerr << "\n    compensate " << k->step << " call " << k->call;
      } else if (const auto* t = std::get_if<ArmTimer>(&x)) {
        std::cerr << "\n    arm " << t->id << " kind " << int(t->kind) << " step " << t->step;
      }
    }
  }
  std::cerr << "\n";
}

void SagaSim::Handle(const Effect& e) {
  auto begun = [](const Record& r) { return std::holds_alternative<BeginRecord>(r); };
  if (const auto* a = std::get_if<AppendRecord>(&e)) {
    if (log_failed_) return;  // the WAL refuses all work after a failure
    log_.push_back(a->record);
    if (a->forced) waiting_.push_back(a->seq);
  } else if (const auto* c = std::get_if<CallExecute>(&e)) {
    if (!DurableHas(begun)) Fail("Execute before BEGIN is durable");
    if (specs_[c->step].compensation_action.empty() && !DurableHas([&](const Record& r) {
          const auto* s = std::get_if<StepRecord>(&r);
          return s && s->step == c->step && s->phase == StepPhase::kForward &&
                 s->event == StepEvent::kStarted;
        })) {
      Fail("Execute of a step without compensation before its STARTED is durable");
    }
    OnCall(false, c->step, c->call);
  } else if (const auto* k = std::get_if<CallCompensate>(&e)) {
    if (!DurableHas([](const Record& r) { return std::holds_alternative<DecisionRecord>(r); })) {
      Fail("Compensate before the ABORT decision is durable");
    }
    OnCall(true, k->step, k->call);
  } else if (const auto* t = std::get_if<ArmTimer>(&e)) {
    if (!timers_.emplace(t->id, *t).second) Fail("timer armed twice");
  } else if (const auto* ct = std::get_if<CancelTimer>(&e)) {
    if (timers_.erase(ct->id) == 0) Fail("cancel of a timer not armed");
  } else if (const auto* an = std::get_if<Answer>(&e)) {
    if (an->status.ok() && !DurableHas(begun)) Fail("answer before BEGIN is durable");
    if (++answers_ > 1) Fail("answered twice");
  } else if (const auto* p = std::get_if<Publish>(&e)) {
    const SagaState s = p->view.state;
    if (s == SagaState::kCompensating &&
        !DurableHas([](const Record& r) { return std::holds_alternative<DecisionRecord>(r); })) {
      Fail("compensating published before the decision is durable");
    }
    if (s == SagaState::kCommitted || s == SagaState::kCompensated) {
      const FinalState want =
          s == SagaState::kCommitted ? FinalState::kCommitted : FinalState::kCompensated;
      if (!DurableHas([&](const Record& r) {
            const auto* end = std::get_if<EndRecord>(&r);
            return end && end->final_state == want;
          })) {
        Fail("final state published before END is durable");
      }
      const std::string name(SagaStateName(s));
      if (!final_seen_.empty() && final_seen_ != name) Fail("final state changed");
      final_seen_ = name;
    }
  }
}

// A call leaves the machine: the network decides its fate.
void SagaSim::OnCall(bool compensate, std::uint32_t step, std::uint64_t token) {
  Msg m;
  m.compensate = compensate;
  m.step = step;
  m.token = token;
  m.incarnation = incarnation_;
  const std::uint64_t fate = calm_ ? 100 : R(100);
  if (fate < 8) {  // never reached the store: an error reply
    Msg r = m;
    r.call = false;
    r.exec = ExecuteReply{step, ExecuteOutcome::kError, token, "unavailable", !P(10)};
    r.comp = CompensateReply{
        step, P(50) ? CompensateOutcome::kRetryable : CompensateOutcome::kConflict, token, "busy"};
    net_.push_back(r);
    return;
  }
  if (fate < 16) {  // timed out: unknown now, the call still reaches the store later
    Msg r = m;
    r.call = false;
    r.exec = ExecuteReply{step, ExecuteOutcome::kUnknown, token, "timeout", true};
    r.comp = CompensateReply{step, CompensateOutcome::kUnknown, token, "timeout"};
    net_.push_back(r);
    m.reply_expected = false;
  } else if (fate < 22) {
    m.unknown = true;  // runs at the store, the reply is lost: unknown
  }
  net_.push_back(m);
  if (!calm_ && P(8)) {  // duplicated on the way
    Msg dup = m;
    dup.reply_expected = true;
    dup.unknown = false;
    net_.push_back(dup);
  }
}

ExecuteReply SagaSim::StoreExecute(const Msg& m) {
  StoreStep& s = store_[m.step];
  if (!s.executed) {
    if (s.fenced) return ExecuteReply{m.step, ExecuteOutcome::kRefused, m.token, "fenced", true};
    s.executed = true;
    s.done = !refuses_[m.step];
    if (s.done && ++s.applied > 1) Fail("step effect applied twice");
  }
  return ExecuteReply{m.step, s.done ? ExecuteOutcome::kDone : ExecuteOutcome::kRefused, m.token,
                      s.done ? "" : "no", true};
}

CompensateReply SagaSim::StoreCompensate(const Msg& m) {
  StoreStep& s = store_[m.step];
  if (!s.compensated) {
    s.compensated = true;
    if (s.done) {
      if (++s.undone > 1) Fail("compensation applied twice");
    } else if (!s.executed) {
      s.fenced = true;  // null compensation: a late Execute is refused
    }
  }
  return CompensateReply{m.step, CompensateOutcome::kOk, m.token, ""};
}

void SagaSim::Deliver(std::size_t i) {
  Msg m = net_[i];
  net_.erase(net_.begin() + static_cast<std::ptrdiff_t>(i));
  if (!m.call) {
    if (m.incarnation != incarnation_) return;  // the machine that waited for it is gone
    if (m.compensate) return Apply(m.comp);
    return Apply(m.exec);
  }
  if (std::getenv("TXC_SAGA_TRACE") != nullptr) {
    std::cerr << "  store " << (m.compensate ? "compensate" : "execute") << " step " << m.step
              << " call " << m.token << " from [" << m.incarnation << "]\n";
  }
  Msg r = m;
  r.call = false;
  if (m.compensate) {
    r.comp = StoreCompensate(m);
    if (m.unknown) r.comp = CompensateReply{m.step, CompensateOutcome::kUnknown, m.token, "lost"};
  } else {
    r.exec = StoreExecute(m);
    if (m.unknown) r.exec = ExecuteReply{m.step, ExecuteOutcome::kUnknown, m.token, "lost", true};
  }
  if (m.reply_expected) net_.push_back(r);
}

// The log syncs: everything appended is durable; the machine hears of its forced records.
void SagaSim::Sync() {
  if (log_failed_ || waiting_.empty()) {
    durable_ = log_failed_ ? durable_ : log_.size();
    return;
  }
  durable_ = log_.size();
  std::vector<std::uint64_t> w;
  w.swap(waiting_);
  if (P(50)) return Apply(RecordDurable{w.back()});  // one covers every earlier one
  for (std::uint64_t seq : w) Apply(RecordDurable{seq});
}

void SagaSim::Crash() {
  ++crashes_;
  ++incarnation_;
  if (std::getenv("TXC_SAGA_TRACE") != nullptr) std::cerr << "  CRASH\n";
  // What survives: the durable prefix, plus any lazy tail the disk happened to keep.
  log_.resize(durable_ + R(log_.size() - durable_ + 1));
  durable_ = log_.size();
  log_failed_ = false;
  waiting_.clear();
  timers_.clear();
  // Calls on the wire still reach the stores; replies to the old machine are lost.
  std::erase_if(net_, [](const Msg& m) { return !m.call; });
  for (Msg& m : net_) m.reply_expected = false;
  m_ = std::make_unique<Machine>(cfg_);
  if (log_.empty()) {
    m_.reset();  // BEGIN never made it: the saga does not exist
    return;
  }
  for (const Record& r : log_) Apply(Replayed{r});
  Apply(Recovered{});
}

void SagaSim::FireTimer() {
  if (timers_.empty()) return;
  auto it = std::next(timers_.begin(), static_cast<std::ptrdiff_t>(R(timers_.size())));
  const std::uint64_t id = it->first;
  timers_.erase(it);
  Apply(TimerFired{id});
}

bool SagaSim::Done() const {
  if (!m_) return true;
  if (m_->state() == MachineState::kFinished) return true;
  const SagaView v = m_->View();
  return v.stuck && v.reason.find("has no compensation") != std::string::npos;
}

// One random action; false when there was nothing to do.
bool SagaSim::Step(bool calm) {
  if (m_ && m_->state() == MachineState::kHalted) {
    Crash();  // fail-stop: the process restarts
    return true;
  }
  const std::uint64_t r = R(100);
  if (!calm && r < 2 && crashes_ < 4) {
    Crash();
  } else if (!calm && r < 4 && !waiting_.empty()) {
    log_failed_ = true;
    Apply(RecordFailed{waiting_.front(), "fsync failed"});
  } else if (r < 6 && m_) {
    if (m_->state() != MachineState::kFinished && m_->state() != MachineState::kBeginning) {
      Apply(OperatorRetry{});
    }
  } else if (r < 20 || (net_.empty() && !waiting_.empty())) {
    Sync();
  } else if (!net_.empty() && (r < 85 || timers_.empty())) {
    Deliver(calm ? 0 : R(net_.size()));
  } else if (!timers_.empty() && (!calm || net_.empty())) {
    FireTimer();
  } else {
    return !net_.empty() || !waiting_.empty();
  }
  return true;
}

Outcome SagaSim::Run() {
  m_ = std::make_unique<Machine>(cfg_);
  Apply(Start{"g1", specs_, std::chrono::milliseconds(1000), 7});
  for (int i = 0; i < 300 && failure_.empty(); ++i) Step(false);
  // Calm: no more faults (the network still reorders nothing); it must finish.
  calm_ = true;
  int calm = 0;
  for (; calm < 5000 && failure_.empty() && !Done(); ++calm) {
    if (!Step(true)) break;
  }
  Outcome out;
  out.events = events_;
  out.crashes = crashes_;
  if (failure_.empty() && !Done()) {
    Fail("did not finish: state " + std::string(MachineStateName(m_->state())) +
         ", view reason: " + m_->View().reason);
  }
  while (!net_.empty() && failure_.empty()) Deliver(0);  // late calls reach the stores
  if (failure_.empty()) CheckEnd(out);
  out.failure = failure_.empty() ? "" : "seed " + std::to_string(seed_) + ": " + failure_;
  return out;
}

// Saga completeness at the stores.
void SagaSim::CheckEnd(Outcome& out) {
  if (!m_) {
    out.end = "never-begun";
    for (const StoreStep& s : store_) {
      if (s.executed || s.compensated) Fail("a store was called for a saga never begun");
    }
    return;
  }
  const SagaView v = m_->View();
  if (m_->state() != MachineState::kFinished) {
    out.end = "stuck";
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      if (v.reason.find(specs_[i].step_id) == std::string::npos) continue;
      if (!specs_[i].compensation_action.empty()) Fail("stuck on a step with a compensation");
      if (!DurableHas([&](const Record& r) {
            const auto* s = std::get_if<StepRecord>(&r);
            return s && s->step == i && s->event == StepEvent::kStarted;
          })) {
        Fail("stuck on a step that never started (it cannot have run)");
      }
    }
    return;
  }
  out.end = std::string(SagaStateName(v.state));
  for (std::size_t i = 0; i < store_.size(); ++i) {
    const StoreStep& s = store_[i];
    const std::string at = " at step " + std::to_string(i);
    if (v.state == SagaState::kCommitted && (s.applied != 1 || s.undone != 0)) {
      Fail("committed saga without its effect exactly once" + at);
    }
    if (v.state == SagaState::kCompensated && s.applied != s.undone) {
      Fail("compensated saga with an effect left" + at);
    }
  }
}

}  // namespace txcoord::saga::sim
