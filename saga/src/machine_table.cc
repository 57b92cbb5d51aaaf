// The saga machine's transition table: which event each state takes, and by which handler
// (machine.h documents what each row does). Everything not listed is rejected.
#include <array>
#include <string>

#include "txcoord/saga/machine.h"

namespace txcoord::saga {

namespace {

template <typename T>
std::size_t Ev() {
  return Event(T{}).index();
}

using S = MachineState;

}  // namespace

const std::vector<Machine::Row>& Machine::Table() {
  static const std::vector<Row> table = {
      {S::kIdle, Ev<Start>(), &Machine::OnStart},
      {S::kIdle, Ev<Replayed>(), &Machine::OnReplay},

      {S::kBeginning, Ev<RecordDurable>(), &Machine::OnDurable},
      {S::kBeginning, Ev<RecordFailed>(), &Machine::OnLogFailed},

      {S::kReplaying, Ev<Replayed>(), &Machine::OnReplay},
      {S::kReplaying, Ev<Recovered>(), &Machine::OnRecovered},

      {S::kRunning, Ev<RecordDurable>(), &Machine::OnDurable},
      {S::kRunning, Ev<RecordFailed>(), &Machine::OnLogFailed},
      {S::kRunning, Ev<ExecuteReply>(), &Machine::OnExecuteReply},
      {S::kRunning, Ev<TimerFired>(), &Machine::OnTimer},
      {S::kRunning, Ev<OperatorRetry>(), &Machine::OnRetry},

      {S::kTurningBack, Ev<RecordDurable>(), &Machine::OnDurable},
      {S::kTurningBack, Ev<RecordFailed>(), &Machine::OnLogFailed},
      {S::kTurningBack, Ev<ExecuteReply>(), &Machine::OnExecuteReply},
      {S::kTurningBack, Ev<TimerFired>(), &Machine::OnTimer},
      {S::kTurningBack, Ev<OperatorRetry>(), &Machine::OnRetry},

      {S::kCompensating, Ev<RecordDurable>(), &Machine::OnDurable},
      {S::kCompensating, Ev<RecordFailed>(), &Machine::OnLogFailed},
      {S::kCompensating, Ev<ExecuteReply>(), &Machine::OnExecuteReply},
      {S::kCompensating, Ev<CompensateReply>(), &Machine::OnCompensateReply},
      {S::kCompensating, Ev<TimerFired>(), &Machine::OnTimer},
      {S::kCompensating, Ev<OperatorRetry>(), &Machine::OnRetry},

      {S::kEnding, Ev<RecordDurable>(), &Machine::OnDurable},
      {S::kEnding, Ev<RecordFailed>(), &Machine::OnLogFailed},
      {S::kEnding, Ev<ExecuteReply>(), &Machine::OnExecuteReply},        // stale only
      {S::kEnding, Ev<CompensateReply>(), &Machine::OnCompensateReply},  // stale only
      {S::kEnding, Ev<TimerFired>(), &Machine::OnTimer},                 // stale only
      {S::kEnding, Ev<OperatorRetry>(), &Machine::OnRetry},              // nothing waits

      {S::kFinished, Ev<RecordDurable>(), &Machine::OnDurable},            // lazy: ignored
      {S::kFinished, Ev<ExecuteReply>(), &Machine::OnExecuteReply},        // stale only
      {S::kFinished, Ev<CompensateReply>(), &Machine::OnCompensateReply},  // stale only
      {S::kFinished, Ev<TimerFired>(), &Machine::OnTimer},                 // stale only
      {S::kFinished, Ev<OperatorRetry>(), &Machine::OnRetryFinal},         // rejected

      {S::kHalted, Ev<RecordDurable>(), &Machine::OnHalted},
      {S::kHalted, Ev<RecordFailed>(), &Machine::OnHalted},
      {S::kHalted, Ev<ExecuteReply>(), &Machine::OnHalted},
      {S::kHalted, Ev<CompensateReply>(), &Machine::OnHalted},
      {S::kHalted, Ev<TimerFired>(), &Machine::OnHalted},
  };
  return table;
}

Result<Effects> Machine::Apply(const Event& event) {
  for (const Row& row : Table()) {
    if (row.state != state_ || row.event != event.index()) continue;
    out_ = Effects{};
    Status s = (this->*row.handler)(event);
    if (!s.ok()) {
      out_ = Effects{};
      return s;
    }
    const bool visible = state_ != S::kIdle && state_ != S::kBeginning && state_ != S::kReplaying &&
                         state_ != S::kHalted;
    if (visible) {
      SagaView v = View();
      if (!published_ || *published_ != v) {
        published_ = v;
        Emit(Publish{std::move(v)});
      }
    }
    Effects out = std::move(out_);
    out_ = Effects{};
    return out;
  }
  return FailedPrecondition("saga " + (gid_.empty() ? std::string("(none)") : gid_) +
                            ": no transition for " + std::string(EventName(event)) + " in state " +
                            std::string(MachineStateName(state_)));
}

std::string_view MachineStateName(MachineState s) {
  static constexpr std::array<std::string_view, 9> names = {
      "idle",         "beginning", "replaying", "running", "turning-back",
      "compensating", "ending",    "finished",  "halted"};
  return names.at(static_cast<std::size_t>(s));
}

std::string_view EventName(const Event& e) {
  static constexpr std::array<std::string_view, 9> names = {
      "Start",      "RecordDurable", "RecordFailed", "ExecuteReply", "CompensateReply",
      "TimerFired", "OperatorRetry", "Replayed",     "Recovered"};
  return names.at(e.index());
}

std::string_view SagaStateName(SagaState s) {
  static constexpr std::array<std::string_view, 4> names = {"running", "compensating", "committed",
                                                            "compensated"};
  return names.at(static_cast<std::size_t>(s));
}

}  // namespace txcoord::saga
