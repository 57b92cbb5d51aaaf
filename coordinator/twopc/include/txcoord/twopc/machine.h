#pragma once
// One 2PC transaction (presumed abort) as a pure state machine: Apply(event) -> effects.
// No threads, locks, clock reads, randomness or I/O. The driver (shard.h) owns the machines of
// its gids, feeds them events and executes their effects in order.
//
// Transition table (every row is one branch of the per-state handlers in machine.cc; an event
// not listed for a state is rejected: state unchanged, Rejected{FailedPrecondition naming state
// and event} or, if the event carries a waiter, Answer{waiter, that status}):
//
//  state       event                         -> state       effects
//  ----------  ----------------------------  -----------  -----------------------------------
//  Idle        Start                         Beginning    Append BEGIN (forced)
//  Idle        Replayed BEGIN                Recovering   -
//  Beginning   Durable BEGIN (one-shot)      Preparing    CallPrepare*, Arm deadline, Publish
//  Beginning   Durable BEGIN (open)          Active       Arm deadline, Answer view, Publish
//  Active      RegisterBranch                Active       Append REGISTER (forced); on its
//                                                         Durable: branch pending, Answer view
//  Active      ClientCommit (none registering) Preparing  CallPrepare* (no branch: Deciding)
//  Active/Prep Timer deadline, ClientAbort   Aborting     Append ABORT (lazy), CallAbort*,
//              or a vote no/error/unknown                 Answer waiters, Publish
//  Active/Prep OperatorResolve abort         Aborting     Append ABORT (forced), CallAbort*;
//                                                         Answer the operator on its Durable
//  Active/Prep OperatorResolve commit, all   Deciding     Append COMMIT (forced)
//              branches prepared (else Conflict)
//  Preparing   PrepareReply yes, all yes     Deciding     Cancel deadline, Append COMMIT forced
//  Deciding    Durable COMMIT                Committing   CallCommit*, Answer waiters, Publish
//  Deciding    ClientCommit                  Deciding     (waiter answered at Durable COMMIT)
//  Deciding    OperatorResolve/Retry, Abort  Deciding     Answer Conflict/FailedPrecondition:
//                                                         the decision is taken, not visible
//  Committing/ Phase2Reply ok                same, or     (all acknowledged) Append END (lazy),
//  Aborting                                  final        Publish
//              Phase2Reply retryable/unknown same         Arm retry (attempt+1, capped by driver)
//              Phase2Reply conflict          same         branch kConflict, stuck, Publish,
//                                                         ReportCall kNeutral
//              Timer retry                   same         Call again
//              OperatorRetry                 same         backoff reset, Call every unacked
//              OperatorResolve force         Heuristic    Append DECISION heuristic (forced)
//  Heuristic   Durable DECISION              Heuristic    best-effort Call*, Arm settle
//              Phase2Reply / Timer settle    Heuristic    when all replied or settle fired:
//                                                         Append END heuristic (forced)
//              Durable END                   final        Answer operator, Publish
//  Recovering  Replayed REGISTER/DECISION/END Recovering  -
//              Recovered                     by records   no decision: as ClientAbort;
//                                                         COMMIT: CallCommit*; ABORT: CallAbort*;
//                                                         heuristic w/o END: settle; END: final
//  any         RecordFailed                  Halted       Answer waiters Unavailable/Unknown
//  final       ClientCommit/Abort            final        Answer view (or Conflict if contrary)
//
// Stale replies (a token that is not the branch's call in flight) and stale timers (cancelled or
// superseded) are ignored explicitly: no effect at all. RecordDurable of a lazy record (ABORT,
// END) is accepted in any later state.
//
// Durable before visible, by construction: the only transitions to Committing run on the
// Durable event of the COMMIT record; Publish/Answer derive the view from the state, and
// Deciding is shown as Preparing; CallCommit is emitted only from Committing and Heuristic
// (after its DECISION is durable).
#include <map>
#include <optional>
#include <set>

#include "txcoord/twopc/types.h"

namespace txcoord::twopc {

class Machine {
 public:
  explicit Machine(std::string gid) : gid_(std::move(gid)) {}

  // Applies one event. Never throws; an event that does not fit leaves the state unchanged.
  Effects Apply(const Event& event);

  State state() const { return state_; }
  bool final() const { return state_ == State::kCommitted || state_ == State::kAborted; }
  // The view as published (Deciding shows as Preparing). Safe to serve to Get at any time.
  View view() const;
  const std::string& gid() const { return gid_; }

 private:
  struct Branch {
    explicit Branch(BranchSpec s, BranchState st = BranchState::kPending)
        : spec(std::move(s)), state(st) {}
    BranchSpec spec;
    BranchState state = BranchState::kPending;
    std::uint32_t attempts = 0;
    std::uint32_t backoff = 0;  // phase-2 backoff attempt; OperatorRetry resets it
    Token token = 0;            // call in flight; 0 = none
    TimerId retry = 0;          // retry timer armed; 0 = none
    std::string last_error;
  };
  enum class Pending : std::uint8_t { kBegin, kRegister, kCommit, kAbort, kHeuristic, kEnd };

  // machine.cc: the table, one handler per state.
  void OnIdle(const Event& e);
  void OnBeginning(const Event& e);
  void OnActive(const Event& e);
  void OnPreparing(const Event& e);
  void OnDeciding(const Event& e);
  void OnPhase2(const Event& e);  // Committing, Aborting
  void OnHeuristic(const Event& e);
  void OnFinal(const Event& e);
  void OnRecovering(const Event& e);
  // Events handled the same in every state before the table (durable lazy records, failed
  // appends, stale tokens and timers). True = handled.
  bool Common(const Event& e);
  void Reject(const Event& e, Code code, const std::string& why);

  // machine_steps.cc: the actions the table names.
  Seq Append(Record r, bool forced, Pending kind);
  void SendPrepares();
  void DecideCommit();
  void DecideAbort(const std::string& reason, bool forced, Waiter op_waiter,
                   const std::string& operator_id);
  void EnterCommitting();
  void SendPhase2(Branch& b);
  void OnVote(const PrepareReply& r);
  void OnAck(const Phase2Reply& r);
  void RetryAll();
  void Resolve(const OperatorResolve& r);
  void StartHeuristic(const OperatorResolve& r);
  void Settle();  // after the heuristic DECISION is durable
  void MaybeEndHeuristic(bool settle_fired);
  void MaybeEnd();       // all acknowledged -> END (lazy) and final
  void Resume();         // on Recovered
  void AnswerOutcome();  // answers outcome_waiters_ with the current view
  void Halt(const Status& why);
  void Publish();
  TimerId Arm(TimerKind kind, std::uint32_t attempt, std::int64_t timeout_ms = 0);
  void Cancel(TimerId& id);
  Branch* Find(const std::string& branch);
  bool AllAcked() const;

  std::string gid_;
  State state_ = State::kIdle;
  BeginRecord begin_;
  std::vector<Branch> branches_;
  Seq next_seq_ = 1;
  Token next_token_ = 1;
  TimerId next_timer_ = 1;
  std::map<Seq, Pending> pending_;                 // appends not yet durable
  std::map<Seq, std::vector<Waiter>> on_durable_;  // answered with the view when seq is durable
  std::vector<Waiter> outcome_waiters_;            // answered once the outcome is visible
  std::set<TimerId> timers_;                       // armed and not cancelled
  TimerId deadline_ = 0;
  TimerId settle_ = 0;
  std::string reason_;
  bool stuck_ = false;
  bool heuristic_ = false;
  bool mixed_ = false;
  Outcome heuristic_outcome_ = Outcome::kAbort;
  std::string operator_id_;
  Waiter heuristic_waiter_ = 0;
  bool end_written_ = false;
  std::optional<DecisionRecord> replayed_decision_;
  Effects out_;  // effects of the event being applied
};

}  // namespace txcoord::twopc
