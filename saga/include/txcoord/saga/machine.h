#pragma once
// The saga protocol as a pure state machine (docs/saga.md, "The machine").
//
// One Machine per saga. No threads, locks, clock reads, randomness or I/O: a driver feeds it
// events (Apply) and carries out the effects it returns, in order. The step order comes from
// the planner (plan.h). Records, events and effects are plain structs; the coordinator maps
// records to its protobuf WAL records.
//
// Durable before visible, by construction: an effect that depends on a forced record (the
// call after a forced STARTED, the compensations after the ABORT decision, the answer after
// BEGIN, the final view after END) is only returned by the Apply of that record's
// RecordDurable. Until then the machine waits in a state that shows nothing new.
//
// Transition table (machine_table.cc holds it as data; any pair not listed is rejected with
// FailedPrecondition naming state and event, and the machine is left unchanged):
//
//   state         | event                          | what happens
//   --------------+--------------------------------+-------------------------------------------
//   kIdle         | Start                          | BEGIN appended (forced) → kBeginning
//   kIdle         | Replayed{Begin}                | steps rebuilt from BEGIN → kReplaying
//   kBeginning    | RecordDurable(BEGIN)           | Answer(accepted), Publish, first steps
//                 |                                | start → kRunning
//   kReplaying    | Replayed{Step/Decision/End}    | folded exactly as live records are
//   kReplaying    | Recovered                      | interrupted calls re-sent / possibly run
//                 |                                | steps marked → kRunning / kCompensating /
//                 |                                | kFinished (END replayed)
//   kRunning      | ExecuteReply done / refused    | lazy DONE / REFUSED; next group, or ABORT
//                 |                                | decision appended (forced) → kTurningBack
//   kRunning      | ExecuteReply error / unknown   | retry timer, or (attempts / deadline
//                 |                                | spent, or not retryable) lazy FAILED
//                 |                                | → ABORT decision → kTurningBack
//   kRunning      | TimerFired retry / deadline    | call re-sent / step given up (as above)
//   kRunning      | RecordDurable(forced STARTED)  | CallExecute of the step without compensation
//   kRunning      | all steps done                 | END(committed) appended, forced → kEnding
//   kTurningBack  | RecordDurable(ABORT)           | compensations start → kCompensating
//   kTurningBack  | ExecuteReply, TimerFired       | as in kRunning, but nothing new starts
//   kCompensating | CompensateReply ok             | lazy COMPENSATE DONE; next lower group, or
//                 |                                | END(compensated) appended → kEnding
//   kCompensating | CompensateReply not ok         | retry timer (forever); stuck flag after
//                 |                                | MachineConfig::stuck_after attempts
//   kCompensating | ExecuteReply, TimerFired       | in-flight executes finish first (as above)
//   kEnding       | RecordDurable(END)             | Publish(final view) → kFinished
//   live states   | OperatorRetry                  | steps waiting for a retry are called now
//   kFinished     | OperatorRetry                  | rejected (the saga is final)
//   any but kIdle | RecordFailed                   | fail-stop → kHalted (Answer(error) if
//                 |                                | BEGIN was not durable)
//   kFinished,    | replies, timers, durable       | ignored: stale (see below)
//   kHalted       |                                |
//
// Stale input is expected and ignored explicitly (Effects::ignored says why): a reply whose
// call token is not the step's outstanding call (a duplicate, or a call since given up), a
// timer since cancelled, a RecordDurable for a lazy record. Tokens the machine never minted,
// step indices out of range, or a reply of the wrong kind for its call are errors.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "txcoord/core/status.h"
#include "txcoord/saga/plan.h"

namespace txcoord::saga {

// Same type as participant::Payload (saga/ does not depend on participants/).
using Payload = std::map<std::string, std::string, std::less<>>;

struct StepSpec {
  std::string participant;
  std::string action;
  Payload payload;
  std::string compensation_action;  // empty: none (only a step alone in the last group)
  Payload compensation_payload;
  std::uint32_t group = 0;
  std::string step_id;  // the step's incarnation, minted by the caller; unique in the saga
};

// --- WAL records (the coordinator maps them to coordinator.proto) ---

enum class StepPhase : std::uint8_t { kForward, kCompensate };
enum class StepEvent : std::uint8_t { kStarted, kDone, kRefused, kFailed };
enum class FinalState : std::uint8_t { kCommitted, kCompensated };

struct BeginRecord {
  std::string gid;
  std::vector<StepSpec> steps;
  std::chrono::milliseconds timeout{0};  // per-step forward deadline
};
struct StepRecord {
  std::uint32_t step = 0;
  StepPhase phase = StepPhase::kForward;
  StepEvent event = StepEvent::kStarted;
  std::string error;  // the step's last error after this record
};
struct DecisionRecord {  // the ABORT decision: from here on the saga only goes backward
  std::string reason;
};
struct EndRecord {
  FinalState final_state = FinalState::kCommitted;
};
using Record = std::variant<BeginRecord, StepRecord, DecisionRecord, EndRecord>;

// --- the view the driver publishes (API state of the saga) ---

enum class SagaState : std::uint8_t { kRunning, kCompensating, kCommitted, kCompensated };
std::string_view SagaStateName(SagaState s);

struct StepView {
  StepState state = StepState::kPending;
  std::uint32_t attempts = 0;  // calls in the current phase
  std::string error;
  bool operator==(const StepView&) const = default;
};
struct SagaView {
  std::string gid;
  SagaState state = SagaState::kRunning;
  bool stuck = false;
  std::string reason;
  std::vector<StepView> steps;
  bool operator==(const SagaView&) const = default;
};

// --- events ---

struct Start {
  std::string gid;
  std::vector<StepSpec> steps;
  std::chrono::milliseconds timeout{0};
  std::uint64_t waiter = 0;  // answered once BEGIN is durable; 0 = nobody waits
};
struct RecordDurable {  // every record up to seq is durable (WAL order)
  std::uint64_t seq = 0;
};
struct RecordFailed {  // the append failed: the log fail-stops
  std::uint64_t seq = 0;
  std::string error;
};
enum class ExecuteOutcome : std::uint8_t { kDone, kRefused, kError, kUnknown };
struct ExecuteReply {
  std::uint32_t step = 0;
  ExecuteOutcome outcome = ExecuteOutcome::kDone;
  std::uint64_t call = 0;
  std::string error;      // refusal reason or error text
  bool retryable = true;  // kError only: false (e.g. bad input) gives the step up at once
};
enum class CompensateOutcome : std::uint8_t { kOk, kRetryable, kUnknown, kConflict };
struct CompensateReply {
  std::uint32_t step = 0;
  CompensateOutcome outcome = CompensateOutcome::kOk;
  std::uint64_t call = 0;
  std::string error;
};
struct TimerFired {
  std::uint64_t timer = 0;
};
struct OperatorRetry {};
struct Replayed {
  Record record;
};
struct Recovered {};
using Event = std::variant<Start, RecordDurable, RecordFailed, ExecuteReply, CompensateReply,
                           TimerFired, OperatorRetry, Replayed, Recovered>;
std::string_view EventName(const Event& e);

// --- effects (carried out in order) ---

struct AppendRecord {
  std::uint64_t seq = 0;  // per machine, increasing; RecordDurable/RecordFailed name it
  Record record;
  bool forced = false;  // forced: the machine waits for its RecordDurable
};
struct CallExecute {
  std::uint32_t step = 0;
  std::uint64_t call = 0;  // the reply must carry it
};
struct CallCompensate {
  std::uint32_t step = 0;
  std::uint64_t call = 0;
};
enum class TimerKind : std::uint8_t {
  kRetryExecute,     // delay: the driver's forward backoff for `attempt`
  kRetryCompensate,  // delay: the driver's compensation backoff for `attempt`
  kStepDeadline,     // delay: `after` (the saga's timeout)
};
struct ArmTimer {
  std::uint64_t id = 0;
  TimerKind kind = TimerKind::kRetryExecute;
  std::uint32_t step = 0;
  std::uint32_t attempt = 0;
  std::chrono::milliseconds after{0};  // kStepDeadline only
};
struct CancelTimer {
  std::uint64_t id = 0;
};
struct Answer {
  std::uint64_t waiter = 0;
  Status status;  // ok: BEGIN durable, `view` is the accepted saga
  SagaView view;
};
struct Publish {
  SagaView view;
};
using Effect =
    std::variant<AppendRecord, CallExecute, CallCompensate, ArmTimer, CancelTimer, Answer, Publish>;

struct Effects {
  std::vector<Effect> effects;
  std::string ignored;  // non-empty: a stale event, ignored on purpose (why)
};

struct MachineConfig {
  std::uint32_t step_max_attempts = 5;  // Execute calls per step before giving up
  std::uint32_t stuck_after = 10;       // failed compensation attempts before "stuck"
};

enum class MachineState : std::uint8_t {
  kIdle,          // nothing yet
  kBeginning,     // BEGIN appended, not durable: invisible, no call
  kReplaying,     // rebuilding from replayed records
  kRunning,       // forward
  kTurningBack,   // ABORT decision appended, not durable: no compensation yet
  kCompensating,  // backward
  kEnding,        // END appended, not durable: still shows running / compensating
  kFinished,      // END durable: committed or compensated
  kHalted,        // a log append failed: fail-stop until recovery rebuilds a new machine
};
std::string_view MachineStateName(MachineState s);

class Machine {
 public:
  explicit Machine(MachineConfig cfg = {});

  // Applies one event. An event that does not fit the state is rejected (FailedPrecondition,
  // or InvalidArgument for malformed input) and changes nothing.
  Result<Effects> Apply(const Event& event);

  MachineState state() const { return state_; }
  const std::string& gid() const { return gid_; }
  std::size_t step_count() const { return steps_.size(); }
  const StepSpec& step(std::size_t i) const { return steps_.at(i).spec; }
  SagaView View() const;

 private:
  struct Step {
    StepSpec spec;
    StepState state = StepState::kPending;
    std::uint32_t attempts = 0;
    std::uint32_t backoff_attempt = 0;
    std::string error;
    bool maybe_ran = false;         // recovered pending: its lazy STARTED may be lost
    std::uint64_t call = 0;         // outstanding call token; 0 = none
    std::uint64_t started_seq = 0;  // forced STARTED appended, not yet durable
    std::uint64_t retry_timer = 0;  // armed retry timer; 0 = none
    std::uint64_t deadline_timer = 0;
    bool deadline_passed = false;
  };
  using Handler = Status (Machine::*)(const Event&);
  struct Row {
    MachineState state;
    std::size_t event;  // Event::index()
    Handler handler;
  };
  static const std::vector<Row>& Table();

  // Handlers (machine_table.cc lists which state takes which; machine.cc implements them).
  Status OnStart(const Event& e);
  Status OnDurable(const Event& e);
  Status OnLogFailed(const Event& e);
  Status OnExecuteReply(const Event& e);
  Status OnCompensateReply(const Event& e);
  Status OnTimer(const Event& e);
  Status OnRetry(const Event& e);
  Status OnRetryFinal(const Event& e);
  Status OnReplay(const Event& e);
  Status OnRecovered(const Event& e);
  Status OnHalted(const Event& e);

  // The one way records change the saga's state, live and in replay.
  void Fold(const Record& r);
  void FoldStep(const StepRecord& r);
  void Durable(const Record& r);
  std::uint64_t Append(Record r, bool forced);
  void AppendFolded(Record r);  // lazy: folded now, appended
  void Advance();
  void StartStep(std::uint32_t i);
  void Send(std::uint32_t i);
  void GiveUp(std::uint32_t i);
  void Finish(std::uint32_t i, StepRecord r);  // a forward outcome: record, timers, advance
  void CancelTimers(Step& s);
  void ArmRetry(std::uint32_t i, TimerKind kind);
  Status CheckReply(std::uint32_t step, std::uint64_t call, bool compensate);
  std::vector<StepInfo> Infos() const;
  // Built in place: moving a whole Effect trips GCC 12's -Wmaybe-uninitialized at -O2.
  template <typename T>
  void Emit(T e) {
    out_.effects.emplace_back(std::in_place_type<T>, std::move(e));
  }
  void Ignore(std::string why) { out_.ignored = std::move(why); }

  MachineConfig cfg_;
  MachineState state_ = MachineState::kIdle;
  std::string gid_;
  std::chrono::milliseconds timeout_{0};
  std::uint64_t waiter_ = 0;
  std::vector<Step> steps_;
  bool backward_ = false;            // ABORT decision folded
  std::optional<FinalState> final_;  // END folded
  bool recovered_end_ = false;       // replay saw END: nothing may follow
  std::string fail_reason_;          // first refused / failed step
  std::string reason_;               // visible: decision or stuck reason
  bool stuck_ = false;
  bool stuck_missing_ = false;  // stuck on a missing compensation: needs a person
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_call_ = 1;
  std::uint64_t next_timer_ = 1;
  std::map<std::uint64_t, Record> pending_;  // forced records appended, not yet durable
  std::optional<SagaView> published_;
  Effects out_;  // effects of the event being applied
};

}  // namespace txcoord::saga
