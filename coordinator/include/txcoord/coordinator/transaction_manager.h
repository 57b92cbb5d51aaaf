#pragma once
// TransactionManager: the presumed-abort two-phase-commit engine (docs/coordinator.md).
//
// Guarantees (DESIGN-NOTES): a forced BEGIN precedes the first prepare; a forced COMMIT precedes
// the first commit call and any "committed" answer; ABORT and END are lazy. Phase 2 is retried
// with capped backoff until every branch acknowledges. A WAL append failure stops the engine
// (fail-stop): ready() turns false, new work gets kUnavailable, nothing undurable is reported.
//
// Ownership: the manager owns the log and shares the participants. Timers run on one internal
// Asio thread; blocking participant calls run on a bounded worker pool.
// Thread-safety: every public method may be called from any thread. Submit/Commit block the
// caller until the decision (not phase 2) is made; Wait blocks until a final state or timeout.
// Destruction joins every internal thread (in-progress participant calls finish first).
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "txcoord/coordinator/recovery.h"
#include "txcoord/coordinator/types.h"
#include "txcoord/core/clock.h"
#include "txcoord/core/random.h"
#include "txcoord/participant/participant.h"
#include "txcoord/wal/log.h"

namespace txcoord::coordinator {

class Engine;

using Participants = std::vector<std::shared_ptr<participant::Participant>>;

class TransactionManager {
 public:
  // Validates the config and participants (unique names), then resumes every unfinished
  // transaction of `recovered` in the background. `clock` and `random` must outlive the manager.
  static Result<std::unique_ptr<TransactionManager>> Start(Config config, Participants participants,
                                                           std::shared_ptr<wal::Log> log,
                                                           RecoveredState recovered, Clock& clock,
                                                           Random& random);
  ~TransactionManager();
  TransactionManager(const TransactionManager&) = delete;
  TransactionManager& operator=(const TransactionManager&) = delete;

  // One-shot 2PC. Returns once decided: committing (decision durable) or aborted.
  // InvalidArgument (nothing logged) for a bad request; Conflict for a duplicate gid or
  // (IsIdempotencyMismatch) a reused key with another body; ResourceExhausted at the limits;
  // Unavailable when not ready; UnknownOutcome if the WAL failed while writing the decision.
  Result<SubmitReply> Submit(const TxnRequest& request);

  // A saga (docs/saga.md). Returns once BEGIN is durable, in state running; the steps run in
  // the background (Wait for the outcome). Errors as for Submit.
  Result<SubmitReply> SubmitSaga(const SagaRequest& request);

  // Open (XA-style) transactions.
  Result<SubmitReply> BeginOpen(const OpenRequest& request);
  // Durably records a branch the participant service already prepared under `gid`.
  Status RegisterBranch(const std::string& gid, const std::string& participant,
                        const std::string& branch);
  Result<TxnView> Commit(const std::string& gid);
  Result<TxnView> Abort(const std::string& gid, const std::string& reason);

  Result<TxnView> Get(const std::string& gid) const;
  // Newest first; `state` empty = all.
  std::vector<TxnView> List(std::optional<TxnState> state, std::size_t limit) const;
  // Blocks until the transaction is final or `timeout` (real time) passed; returns its view
  // either way (check IsFinal(view.state)).
  Result<TxnView> Wait(const std::string& gid, std::chrono::milliseconds timeout) const;
  // Operator: resend phase 2 of `gid` now, with its backoff reset.
  Status RetryNow(const std::string& gid);
  // Operator: decide a stuck transaction (docs/coordinator.md, "Operator decisions").
  // Without force only protocol-consistent decisions: abort of an undecided transaction (a
  // forced ABORT record with the reason), commit of an undecided one whose branches all voted
  // yes. With force a heuristic decision: a forced heuristic DECISION, one best-effort phase-2
  // call per unacknowledged branch, the rest marked BranchState::kHeuristic, a forced END;
  // returns the final view. InvalidArgument (bad reason/operator), NotFound, Conflict (finished,
  // or refused without force: the message says why), Unavailable (not ready).
  Result<TxnView> Resolve(const std::string& gid, const ResolveRequest& request);

  // One orphan scan now (also runs every Config::orphan_scan_interval).
  Status RunOrphanScan();
  // A checkpoint now (also runs per Config::checkpoint_every_records / checkpoint_interval).
  Status CheckpointNow();

  // Replay done and the WAL healthy (not fail-stopped).
  bool ready() const;
  // Ok, or why the engine stopped (WAL failure, or a fault point fired).
  Status health() const;
  Metrics metrics() const;
  const Config& config() const;

 private:
  explicit TransactionManager(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

}  // namespace txcoord::coordinator
