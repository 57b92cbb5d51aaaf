#pragma once
// Value types of the 2PC engine's API: requests, views of transactions, configuration, metrics.
// Thread-safety: plain values; safe to copy between threads.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/backoff.h"
#include "txcoord/core/clock.h"
#include "txcoord/core/status.h"
#include "txcoord/participant/participant.h"

namespace txcoord::coordinator {

// 2PC: kActive (open) / kPreparing → kCommitting → kCommitted, or → kAborting → kAborted.
// Sagas (docs/saga.md): kRunning → kCommitted, or kRunning → kCompensating → kCompensated.
enum class TxnState {
  kActive,
  kPreparing,
  kCommitting,
  kCommitted,
  kAborting,
  kAborted,
  kRunning,       // saga: executing steps forward
  kCompensating,  // saga: undoing done (or possibly done) steps in reverse order
  kCompensated,   // saga: final; every done or possibly-done step compensated
};
enum class BranchState {
  kRegistering,  // open txn: REGISTER_BRANCH not yet durable
  kPending,      // 2PC: prepare not sent yet
  kPreparing,
  kPrepared,
  kRefused,  // voted no
  kFailed,   // prepare failed with an error (or never answered)
  kCommitting,
  kCommitted,
  kAborting,
  kAborted,
  // Saga steps (kPending, kRefused and kFailed are shared: kFailed = gave up retrying Execute,
  // possibly done, so it gets compensated).
  kExecuting,
  kDone,
  kCompensating,
  kCompensated,
  // Settled by an operator's forced resolve (heuristic) without an acknowledgement from the
  // participant: its real state is unknown to the coordinator, which never calls it again.
  kHeuristic,
};

std::string_view TxnStateName(TxnState s);  // "active", "preparing", ...
std::string_view BranchStateName(BranchState s);
bool IsFinal(TxnState s);

struct BranchRequest {
  std::string participant;
  std::string action;
  participant::Payload payload;
  // A label of at most 7 bytes, empty = "b<index>". The engine appends a fresh incarnation
  // ("b0.1f2e3d4c"): the branch id the stores see is new for every transaction it starts.
  std::string branch;
};

// A one-shot 2PC transaction: prepare every branch, then commit or abort.
struct TxnRequest {
  std::string gid;  // empty = generated
  std::vector<BranchRequest> branches;
  std::optional<std::chrono::milliseconds> timeout;  // prepare timeout; default from Config
  std::string idempotency_key;                       // empty = none; <= 255 bytes
  std::string request_hash;  // hash of the request body; empty = computed from the fields
  // The caller is going to Wait for phase 2 right after Submit returns (the HTTP API's default).
  // After a commit decision Submit may then make one of the commit calls itself, on the
  // caller's thread, before it returns (saving two thread hand-offs): Submit returns no earlier
  // than that call ends, even if it takes longer than the caller meant to wait (the
  // participant's own call timeout bounds it). false: Submit returns right after the decision,
  // phase 2 runs in the background.
  bool caller_waits_phase2 = false;
};

// One saga step: Execute(action) forward, Compensate(compensation_action) backward.
struct SagaStepRequest {
  std::string participant;
  std::string action;
  participant::Payload payload;
  // Empty = none: allowed only for a step alone in the last group.
  std::string compensation_action;
  participant::Payload compensation_payload;
  std::uint32_t group = 0;  // steps of one group run concurrently; groups in ascending order
  std::string branch;       // a label as BranchRequest::branch; empty = "s<index>"
};

// A saga: steps forward in group order; a refusal or a step given up on compensates every done
// (or possibly done) step in reverse group order.
struct SagaRequest {
  std::string gid;  // empty = generated
  std::vector<SagaStepRequest> steps;
  // Per-step forward deadline: transient errors are retried (capped backoff) until
  // Config::saga_step_max_attempts or this much time passed; then the saga compensates.
  std::optional<std::chrono::milliseconds> timeout;
  std::string idempotency_key;
  std::string request_hash;  // empty = computed from the fields
  // How long the caller will wait for the outcome (0: it does not). Meanwhile SubmitSaga runs
  // the saga's steps on the calling thread, in a channel slot, instead of handing each to the
  // pool: of the steps that start together (a group) the last runs here, the others on the
  // pool; a step waiting for a retry goes back to the pool. SubmitSaga then returns once no step
  // can run here; a step started in time runs to its end (the participant's call timeout bounds
  // it).
  std::chrono::milliseconds caller_waits{0};
};

// An open (XA-style) transaction: branches are registered by participant services.
struct OpenRequest {
  std::string gid;                                   // empty = generated
  std::optional<std::chrono::milliseconds> timeout;  // abort if undecided by then
  std::string idempotency_key;
  std::string request_hash;
};

// An operator's decision about a stuck transaction (TransactionManager::Resolve, txctl resolve).
enum class ResolveOutcome { kCommit, kAbort };
struct ResolveRequest {
  ResolveOutcome outcome = ResolveOutcome::kAbort;
  // false: only protocol-consistent decisions (abort of an undecided transaction, commit of an
  // undecided one whose branches all voted yes); true: a heuristic decision (docs/coordinator.md).
  bool force = false;
  std::string reason;       // required, 1..kMaxResolveReasonLen bytes
  std::string operator_id;  // who; empty = "unknown"; <= kMaxOperatorIdLen bytes
};
inline constexpr std::size_t kMaxResolveReasonLen = 512;
inline constexpr std::size_t kMaxOperatorIdLen = 128;

// One line of a transaction's timeline: a WAL record written (or replayed) for it.
struct TimelineEntry {
  Clock::WallTime at{};
  std::string record;  // "begin", "register", "decision", "end", "saga_step"
  std::string detail;  // e.g. "commit", "abort (heuristic, by alice: pg-2 decommissioned)"
};
// Entries kept per transaction: the first (begin) and the newest kMaxTimelineEntries-1.
inline constexpr std::size_t kMaxTimelineEntries = 32;

struct BranchView {
  std::string participant;
  std::string action;
  std::string branch;
  BranchState state = BranchState::kPending;
  std::uint32_t attempts = 0;  // calls made for the current phase
  std::string last_error;      // empty = none
};

struct TxnView {
  std::string gid;
  std::string mode = "2pc";
  bool open = false;
  TxnState state = TxnState::kActive;
  std::string reason;      // why aborted / compensating / stuck, when known
  bool stuck = false;      // saga: a compensation keeps failing or is missing; a person must look
  bool heuristic = false;  // settled by an operator's forced resolve
  bool heuristic_mixed =
      false;                // ... against an earlier durable decision (e.g. abort after COMMIT)
  std::string operator_id;  // who resolved it (txctl resolve), when someone did
  std::vector<BranchView> branches;
  std::vector<TimelineEntry> timeline;  // oldest first, bounded (kMaxTimelineEntries)
  Clock::WallTime created{};
  Clock::WallTime updated{};
};

// How a request with an idempotency key matched an earlier one.
enum class IdempotencyMatch {
  kNew,         // no earlier request: this one ran
  kReplayed,    // same key + same hash, finished or decided: `txn` is the earlier answer
  kInProgress,  // same key + same hash, still running: Wait(txn.gid) for its outcome (HTTP 409)
};

struct SubmitReply {
  IdempotencyMatch match = IdempotencyMatch::kNew;
  TxnView txn;
};

// Same key + different body is an error with this code and message prefix (HTTP 422).
inline constexpr std::string_view kIdempotencyMismatch =
    "idempotency key reused with a different body";
bool IsIdempotencyMismatch(const Status& s);
inline constexpr std::size_t kMaxIdempotencyKeyLen = 255;

inline constexpr std::size_t kDefaultMaxFinishedKept = 10'000;

struct Config {
  std::string coordinator_id = "txc";  // ids.h rules; prefix of every prepared name
  std::size_t max_in_flight = 10'000;  // undecided + phase-2 transactions
  std::size_t max_branches = 64;       // per transaction
  std::chrono::milliseconds default_timeout{10'000};
  std::chrono::milliseconds max_timeout{24 * 3600 * 1000};
  std::size_t worker_threads = 16;  // blocking participant calls run here
  // Keep ≤ the participant's connection pool (the adapters default to 8) and ≤ worker_threads.
  std::size_t max_concurrent_per_participant = 8;
  std::size_t max_queued_per_participant = 1'000;
  // A participant whose recent calls took less than this each is called on the thread that
  // waits for the answer (one branch after another) instead of through the pool: a hand-off
  // costs more than such a call. 0 = only the last branch there (the rule for every call).
  std::chrono::microseconds inline_calls_under{100};
  BackoffPolicy prepare_backoff{std::chrono::milliseconds(10), std::chrono::milliseconds(200)};
  BackoffPolicy phase2_backoff{std::chrono::milliseconds(50), std::chrono::milliseconds(5'000)};
  std::uint32_t breaker_failures = 5;  // consecutive failures that open a participant's breaker
  std::chrono::milliseconds breaker_cooldown{5'000};                // injected Clock time
  std::chrono::milliseconds idempotency_horizon{24 * 3600 * 1000};  // injected Clock (wall)
  // Idempotency records kept (memory, checkpoints): beyond it the oldest finished ones go before
  // their horizon (Metrics::idempotency_evicted). ≥ 1.
  std::size_t max_idempotency_keys = 250'000;
  std::chrono::milliseconds orphan_scan_interval{30'000};  // 0 = no periodic scan
  std::chrono::milliseconds orphan_min_age{30'000};  // sightings this far apart (Clock) → abort
  std::uint64_t checkpoint_every_records = 1'000;    // 0 = never by count
  std::chrono::milliseconds checkpoint_interval{60'000};  // 0 = never by time
  std::chrono::milliseconds tick{100};  // housekeeping: open-txn timeouts, idempotency expiry
  // Finished transactions kept for Get/List, in memory and across restarts (checkpoints).
  std::size_t max_finished_kept = kDefaultMaxFinishedKept;
  // Sagas: Execute calls per step before giving up (then compensate); compensations are retried
  // forever with phase2_backoff and flag the saga stuck after saga_stuck_after attempts.
  std::uint32_t saga_step_max_attempts = 5;
  std::uint32_t saga_stuck_after = 10;
};

struct Metrics {
  std::uint64_t committed = 0;
  std::uint64_t aborted = 0;
  std::uint64_t rejected = 0;  // bad requests, limits
  std::uint64_t saga_committed = 0;
  std::uint64_t compensated = 0;  // sagas that ended compensated
  std::uint64_t stuck = 0;        // sagas flagged stuck now
  std::uint64_t in_flight = 0;
  std::uint64_t idempotency_keys = 0;     // records held now
  std::uint64_t idempotency_evicted = 0;  // dropped before their horizon (max_idempotency_keys)
  // Transactions ended by an operator's forced resolve, by outcome (sagas: abort = compensated),
  // and those among them whose outcome contradicts an earlier durable decision.
  std::uint64_t heuristic_commits = 0;
  std::uint64_t heuristic_aborts = 0;
  std::uint64_t heuristic_mixed = 0;
  // participant -> "prepare.yes", "prepare.no", "prepare.error", "commit.ok", "commit.error", ...
  std::map<std::string, std::map<std::string, std::uint64_t>> branch_calls;
  std::map<std::string, bool> breaker_open;  // participant -> open now
  // participant -> quick now: a waiting caller makes its calls itself (Config::inline_calls_under)
  std::map<std::string, bool> quick;
  // Per participant: calls run, and the real time they waited for a slot (the per-participant
  // concurrency cap) and ran. Averages = seconds / calls.
  struct CallTiming {
    std::uint64_t calls = 0;
    double queued_seconds = 0;
    double running_seconds = 0;
  };
  std::map<std::string, CallTiming> call_timing;
  // Begin → decision latency, milliseconds; bucket upper bounds 1,2,5,10,...,10000, +inf.
  std::vector<double> latency_bounds_ms;
  std::vector<std::uint64_t> latency_counts;  // one more than bounds (+inf)
  double latency_sum_ms = 0;
};

}  // namespace txcoord::coordinator
