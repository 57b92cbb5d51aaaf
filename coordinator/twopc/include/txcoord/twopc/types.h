#pragma once
// The vocabulary of the 2PC state machine (machine.h): WAL records as plain structs, events in,
// effects out, and the view a client or operator sees. Values only; no I/O.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "txcoord/core/status.h"

namespace txcoord::twopc {

using Waiter = std::uint64_t;  // opaque client token handed back in Answer; 0 = nobody waits
using Token = std::uint64_t;   // one participant call; replies carrying another are stale
using TimerId = std::uint64_t;
using Seq = std::uint64_t;  // one append of this machine (per machine, from 1)

struct BranchSpec {
  std::string participant;
  std::string action;  // empty for branches registered by an open transaction
  std::map<std::string, std::string> payload;
  std::string branch;  // the incarnation the stores see, minted by the caller (fresh per txn)
};

// --- WAL records (coordinator.proto's Record, mapped by coordinator/twopc_codec.h) ---
struct BeginRecord {
  std::string gid;
  std::vector<BranchSpec> branches;
  std::int64_t timeout_ms = 0;
  bool open = false;
  std::string idempotency_key;
  std::string request_hash;
};
struct RegisterRecord {
  std::string gid;
  BranchSpec branch;
};
enum class Outcome : std::uint8_t { kCommit, kAbort };
struct DecisionRecord {
  std::string gid;
  Outcome outcome = Outcome::kAbort;
  std::string reason;
  bool heuristic = false;
  bool heuristic_mixed = false;
  std::string operator_id;
};
struct EndRecord {
  std::string gid;
  std::string final_state;  // empty for a plain 2PC END; "committed"/"aborted" when heuristic
  bool heuristic = false;
  std::vector<std::string> heuristic_branches;
};
using Record = std::variant<BeginRecord, RegisterRecord, DecisionRecord, EndRecord>;

// --- the view (what Get, answers and Publish carry) ---
enum class State : std::uint8_t {
  kIdle,        // constructed, nothing happened
  kBeginning,   // BEGIN (or, for a register, nothing else) being made durable
  kActive,      // open transaction: BEGIN durable, branches may register
  kPreparing,   // prepares sent, votes arriving
  kDeciding,    // every vote yes, COMMIT append in flight: seen from outside as kPreparing
  kCommitting,  // COMMIT durable; commits sent until acknowledged
  kAborting,    // abort decided (ABORT lazy); aborts sent until acknowledged
  kHeuristic,   // operator's forced DECISION in flight or being settled (best-effort calls)
  kCommitted,   // final
  kAborted,     // final
  kRecovering,  // records replayed, waiting for Recovered
  kHalted,      // a WAL append failed: the driver fail-stops; nothing more happens
};
std::string_view StateName(State s);

enum class BranchState : std::uint8_t {
  kRegistering,  // open txn: REGISTER not durable yet
  kPending,      // prepare not sent
  kPreparing,
  kPrepared,
  kRefused,  // voted no
  kFailed,   // prepare error, unknown outcome or no reply before the deadline
  kCommitting,
  kCommitted,
  kAborting,
  kAborted,
  kConflict,   // the participant answered a protocol conflict: stuck for an operator
  kHeuristic,  // settled by an operator without acknowledgement; never called again
};
std::string_view BranchStateName(BranchState s);

struct BranchView {
  BranchSpec spec;
  BranchState state = BranchState::kPending;
  std::uint32_t attempts = 0;  // calls made in the current phase
  std::string last_error;
};

struct View {
  std::string gid;
  bool open = false;
  State state = State::kIdle;  // never kDeciding: shown as kPreparing (durable before visible)
  std::string reason;
  bool stuck = false;  // a branch answered a protocol conflict; an operator must look
  bool heuristic = false;
  bool heuristic_mixed = false;
  std::string operator_id;
  std::vector<BranchView> branches;
};

// --- events ---
enum class Vote : std::uint8_t { kYes, kNo, kError, kUnknown };
enum class Ack : std::uint8_t { kOk, kRetryable, kUnknown, kConflict };

struct Start {
  BeginRecord begin;  // branches with ids minted; open = BeginOpen
  Waiter waiter = 0;  // answered with the outcome (one-shot) or once BEGIN is durable (open)
};
struct RecordDurable {
  Seq seq = 0;
};
struct RecordFailed {
  Seq seq = 0;
  Status why;
};
struct PrepareReply {
  std::string branch;
  Vote vote = Vote::kYes;
  Token token = 0;
  std::string detail;
};
struct Phase2Reply {
  std::string branch;
  Ack ack = Ack::kOk;
  Token token = 0;
  std::string detail;
};
struct TimerFired {
  TimerId id = 0;
};
struct RegisterBranch {
  BranchSpec branch;
  Waiter waiter = 0;
};
struct ClientCommit {
  Waiter waiter = 0;
};
struct ClientAbort {
  std::string reason;
  Waiter waiter = 0;
};
struct OperatorRetry {
  Waiter waiter = 0;
};
struct OperatorResolve {
  Outcome outcome = Outcome::kAbort;
  bool force = false;
  std::string reason;
  std::string operator_id;
  Waiter waiter = 0;
};
struct Replayed {
  Record record;
};
struct Recovered {};
using Event = std::variant<Start, RecordDurable, RecordFailed, PrepareReply, Phase2Reply,
                           TimerFired, RegisterBranch, ClientCommit, ClientAbort, OperatorRetry,
                           OperatorResolve, Replayed, Recovered>;
std::string_view EventName(const Event& e);

// --- effects (executed by the driver, in order) ---
struct AppendRecord {
  Seq seq = 0;
  Record record;
  bool forced = false;  // true: RecordDurable(seq) must follow before anything depending on it
};
struct CallPrepare {
  BranchSpec branch;
  Token token = 0;
};
struct CallCommit {
  std::string branch;
  std::string participant;
  Token token = 0;
};
struct CallAbort {
  std::string branch;
  std::string participant;
  Token token = 0;
};
enum class TimerKind : std::uint8_t {
  kPrepareDeadline,  // the transaction's timeout (one-shot: prepares; open: whole txn)
  kRetry,            // phase-2 backoff of one branch; attempt = its backoff attempt (from 1)
  kSettle,           // heuristic settle: how long best-effort calls may take
};
struct ArmTimer {
  TimerId id = 0;
  TimerKind kind = TimerKind::kRetry;
  std::uint32_t attempt = 0;
  std::int64_t timeout_ms = 0;  // kPrepareDeadline only
};
struct CancelTimer {
  TimerId id = 0;
};
struct Answer {
  Waiter waiter = 0;
  Result<View> result;
};
struct Publish {
  View view;
};
// How the driver counts a reply for the participant's circuit breaker.
enum class Health : std::uint8_t { kSuccess, kFailure, kNeutral };
struct ReportCall {
  std::string participant;
  Health health = Health::kSuccess;
};
// The event did not fit the state: state unchanged; the driver logs it (and may alert).
struct Rejected {
  Status why;
};
using Effect = std::variant<AppendRecord, CallPrepare, CallCommit, CallAbort, ArmTimer, CancelTimer,
                            Answer, Publish, ReportCall, Rejected>;
using Effects = std::vector<Effect>;

}  // namespace txcoord::twopc
