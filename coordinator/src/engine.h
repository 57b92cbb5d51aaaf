#pragma once
// Internal: the engine behind TransactionManager. Methods are split by topic over submit.cc,
// open_txn.cc, phase2.cc, queries.cc, resolve.cc, saga*.cc, resume.cc (recovery), checkpoint.cc,
// housekeeping.cc (periodic work); shared plumbing in engine.cc.
//
// Locking: checkpoint_mu_ (one checkpoint at a time) → wal_gate_ (shared for appends, exclusive
// for a checkpoint until the WAL fixed its cut) → mu_ (all transaction state). Participant calls
// and WAL waits never run under mu_. Channel/breaker mutexes are leaves. Timers run on io_ (one
// thread); participant calls on pool_, except a Submit's own last prepare and (caller_waits_phase2)
// last commit, and a waiting SubmitSaga's steps (SagaRequest::caller_waits), which run on the
// submitting thread in a channel slot (ParticipantChannel::TryRunHere).
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "channel.h"
#include "records.h"
#include "txcoord/coordinator/transaction_manager.h"

namespace txcoord::coordinator {

enum class Phase2Op { kCommit, kAbort };

// Participants must not throw (no exceptions across our APIs); if one does, the call counts as
// a failed call (kInternal) instead of killing a worker thread.
template <typename F>
auto CallParticipant(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Internal(std::string("participant call threw: ") + e.what());
  } catch (...) {
    return Internal("participant call threw a non-standard exception");
  }
}

struct Branch {
  std::string participant;
  std::string action;
  participant::Payload payload;
  std::string branch;
  BranchState state = BranchState::kPending;
  std::uint32_t attempts = 0;
  std::uint32_t backoff_attempt = 0;  // reset by RetryNow
  std::uint64_t generation = 0;       // bumps on RetryNow; stale retry timers do nothing
  bool call_in_flight = false;
  std::string last_error;
  // Saga steps.
  std::string comp_action;
  participant::Payload comp_payload;
  std::uint32_t group = 0;
  std::chrono::steady_clock::time_point deadline{};  // forward retries stop here (real time)
  // Recovered pending, with a compensation: its lazy STARTED may have been lost, so it may have
  // run before the restart. Turning back compensates it (a null compensation if it never ran).
  bool maybe_ran = false;
};

struct Txn {
  std::string gid;
  bool open = false;
  TxnState state = TxnState::kPreparing;
  std::string reason;
  std::vector<Branch> branches;
  Clock::WallTime created{};
  Clock::WallTime updated{};
  Clock::MonoTime started{};
  std::chrono::milliseconds timeout{0};
  std::string idem_key;
  std::string request_hash;
  std::chrono::steady_clock::time_point prepare_deadline{};  // real time (timer-driven)
  std::size_t replies = 0;                                   // prepare replies (2PC)
  bool prepare_failed = false;
  std::string fail_reason;
  bool end_started = false;
  bool saga = false;
  bool stuck = false;
  bool stuck_missing = false;  // stuck because a step needing compensation has none
  // Waiters on this transaction (Decide, Wait) block here under Engine::mu_; notified on its
  // state changes and on engine stop. Per transaction, so one change wakes only its waiters.
  std::condition_variable cv;
  // A forced decision record (a COMMIT, an operator's ABORT, a heuristic DECISION) appended
  // and not yet durable. Durable before visible: until its durable event the transaction keeps
  // its previous state for every reader and caller (views, idempotent replays, RetryNow, phase
  // 2); no other decision may be taken meanwhile; a checkpoint cut in that window carries it
  // (it follows the record in the log). Set by the reserving mutation, cleared by the publish.
  std::optional<internal::v1::Decision> pending_decision;
  // Operator decisions (resolve.cc).
  bool heuristic = false;
  bool heuristic_mixed = false;
  std::string operator_id;
  std::string operator_reason;  // the operator's words, as in the DECISION record
  std::vector<internal::v1::TimelineEntry> timeline;  // internal::AppendTimeline bounds it
  std::size_t live_slot = kNotLive;                   // its index in Engine::live_ while not final
  static constexpr std::size_t kNotLive = static_cast<std::size_t>(-1);
};

struct IdemRecord {
  std::string hash;
  std::string gid;
  Clock::WallTime created{};
  std::string final_state;  // "committed"/"aborted" once finished
};

class Engine {
 public:
  Engine(Config config, std::map<std::string, std::shared_ptr<participant::Participant>> parts,
         std::shared_ptr<wal::Log> log, Clock& clock, Random& random);
  ~Engine();

  void Resume(internal::ReplayTables& tables);  // recovery: rebuild and finish transactions

  Result<SubmitReply> Submit(const TxnRequest& request);
  Result<SubmitReply> SubmitSaga(const SagaRequest& request);
  Result<SubmitReply> BeginOpen(const OpenRequest& request);
  Status RegisterBranch(const std::string& gid, const std::string& participant,
                        const std::string& branch);
  Result<TxnView> Commit(const std::string& gid);
  Result<TxnView> Abort(const std::string& gid, const std::string& reason);
  Result<TxnView> Get(const std::string& gid) const;
  std::vector<TxnView> List(std::optional<TxnState> state, std::size_t limit) const;
  Result<TxnView> Wait(const std::string& gid, std::chrono::milliseconds timeout) const;
  Status RetryNow(const std::string& gid);
  Result<TxnView> Resolve(const std::string& gid, const ResolveRequest& request);
  Status RunOrphanScan();
  Status CheckpointNow();
  bool ready() const;
  Status health() const;
  Metrics metrics() const;
  const Config& config() const { return cfg_; }

 private:
  using TxnPtr = std::shared_ptr<Txn>;
  using Mutation = std::function<Result<bool>()>;  // runs under mu_; false = skip the append
  using Publish = std::function<void()>;           // runs under mu_

  // --- engine.cc: plumbing ---
  // Appends `rec` and waits until it is durable. `mutate` runs under mu_ before the append
  // (validation, reservation). `publish`, if any, runs under mu_ once the record is durable and
  // before this returns: whatever others may see or act on because of the record goes there
  // (durable before visible). `fault_point`, if any, is hit between the two (crash tests hold
  // or kill the window there); when it halts the engine this returns kUnavailable.
  Status AppendForced(const internal::v1::Record& rec, const Mutation& mutate,
                      const Publish& publish = {}, const char* fault_point = nullptr);
  // Waits (under `lock` on mu_) until no decision of `t` is being written; false if the engine
  // stopped meanwhile.
  bool WaitDecidedLocked(std::unique_lock<std::mutex>& lock, Txn& t) const;
  void AppendLazy(const internal::v1::Record& rec, const std::function<bool()>& mutate);
  // After each durable record of `bytes`: asks for a checkpoint once one is due
  // (CheckpointDue).
  void AfterDurable(std::size_t bytes);
  // checkpoint_every_records records since the last checkpoint, and at least as many bytes as
  // that checkpoint had: a snapshot grown large (idempotency keys, transactions in flight) is
  // rewritten only after the log grew by as much, so checkpoints cost O(1) per record.
  bool CheckpointDue() const;
  void FailStop(const Status& why);
  void NotifyAllLocked();        // wakes every transaction's waiters (stop, fail-stop)
  bool Fault(const char* name);  // false = the point fired; the engine is halted
  bool Stopped() const { return stopping_.load() || halted_flag_.load(); }
  Status CheckReadyLocked() const;
  void After(std::chrono::milliseconds delay, std::function<void()> fn);
  internal::ParticipantChannel* ChannelFor(const std::string& name);
  Result<TxnPtr> FindLocked(const std::string& gid) const;  // NotFound "no transaction <gid>"
  // Commit/Abort by the client: an open or one-shot 2PC transaction, not a saga.
  Result<TxnPtr> FindClientTxnLocked(const std::string& gid) const;
  std::string NewGidLocked();
  TxnView ViewLocked(const Txn& t) const;
  void CountCall(const std::string& participant, const std::string& what);
  // Adds the timeline line of `rec` (written or replayed for t), bounded.
  void NoteLocked(Txn& t, const internal::v1::Record& rec);

  // --- submit.cc ---
  // A transaction for a request of `count` `parts` ("branches"/"steps") with its gid, key,
  // timeout and hash, after the checks every request shares (InvalidArgument otherwise).
  template <typename Request>
  Result<TxnPtr> NewTxn(const Request& r, std::size_t count, std::string_view what,
                        std::string_view parts) const;
  // The branch (step) id the stores see for branch i of a transaction this engine starts:
  // `label` (or "<kind><i>" when empty) + "." + `incarnation` in 8 hex digits, drawn once per
  // transaction from the injected Random. Fresh for every transaction, so a gid reused after
  // the engine forgot it never meets the old transaction's prepared names or barrier rows
  // (DESIGN-NOTES "Incarnations belong to the engine"). InvalidArgument for a bad label.
  static Result<std::string> Incarnate(const std::string& label, char kind, std::size_t i,
                                       std::uint32_t incarnation);
  static constexpr std::size_t kMaxBranchLabelLen = 7;  // + 9 = participant::kMaxBranchLen
  Result<TxnPtr> BuildTxn(const TxnRequest& r) const;
  Result<TxnPtr> CountRejected(Result<TxnPtr> built);  // a failed build counts as rejected
  Result<std::optional<SubmitReply>> AdmitLocked(const TxnPtr& txn);
  // Request validation of one branch before anything is logged: known participant, valid and
  // unique branch id, and the participant accepts the action and payload. InvalidArgument
  // prefixed with `where` otherwise.
  Status CheckBranch(const Txn& txn, const Branch& branch, const std::string& where) const;
  // Admits `txn` and makes its BEGIN durable, then hits `fault_point`. A value = answered
  // without a new transaction (idempotent replay / in progress); nullopt = BEGIN is durable, go
  // on. Unavailable when the fault point halted the engine (`after_crash` says what recovery
  // will do with the transaction).
  Result<std::optional<SubmitReply>> AdmitAndBegin(const TxnPtr& txn, const char* fault_point,
                                                   std::string_view after_crash);
  std::optional<SubmitReply> MatchIdempotencyLocked(const std::string& key, const std::string& hash,
                                                    Status* mismatch) const;
  // Sends each branch's prepare to its channel's pool, except those CallsHere picks: with the
  // housekeeping tick running they run on the caller's thread, one after another, each when its
  // channel has a free slot (else pooled), after the pooled ones were sent; a refusal or
  // failure skips the rest (the abort reaches them). The caller waits for all in Decide; while
  // it is in a call, Tick takes the timeout decision if the prepare deadline passes
  // (inline_prepares_).
  void StartPrepares(const TxnPtr& txn);
  // Does a caller that waits for the answer make this branch's call itself? The last branch's
  // always; another's when its participant is quick (Config::inline_calls_under).
  bool CallsHere(const std::string& participant, bool last);
  void SendPrepare(const TxnPtr& txn, std::size_t i);
  void RunPrepare(const TxnPtr& txn, std::size_t i);
  void RecordPrepareLocked(Txn& t, std::size_t i, BranchState result, const std::string& why);
  // Past the prepare deadline without every reply: notes why (once) on the transaction and its
  // unanswered branches; the reason is t.fail_reason.
  void NotePrepareTimeoutLocked(Txn& t);
  Status ValidateCommon(const std::string& gid, const std::string& key,
                        std::optional<std::chrono::milliseconds> timeout) const;
  static internal::v1::Begin BeginOf(const Txn& t);
  // `here`: the caller waits for phase 2 after this returns; after a commit decision phase-2
  // calls may run on its thread (StartPhase2).
  Result<SubmitReply> Decide(const TxnPtr& txn, bool here);
  // `op`: an operator's (non-forced) resolve: every branch must be prepared; the record carries
  // the reason and operator. `here`: as for StartPhase2.
  Result<TxnView> DecideCommit(const TxnPtr& txn, const ResolveRequest* op = nullptr,
                               bool here = false);
  bool DecideAbort(const TxnPtr& txn, const std::string& reason);  // false: already decided
  void MarkAbortingLocked(Txn& t, const std::string& reason);
  void RecordLatencyLocked(const Txn& t);

  // --- phase2.cc ---
  // `here`: the caller is going to wait for phase 2 anyway, so the calls CallsHere picks run on
  // its thread, each when its channel has a free slot (the others go to the pool first).
  void StartPhase2(const TxnPtr& txn, Phase2Op op, bool here = false);
  // `here`: run the call on this thread if the channel has a free slot (else the pool).
  void DispatchPhase2(const std::string& gid, std::size_t i, std::uint64_t generation,
                      bool here = false);
  void RunPhase2(const TxnPtr& txn, std::size_t i, Phase2Op op);
  // One commit/abort call of branch i through its channel's breaker, counted in the metrics.
  // Runs on the caller's thread; takes mu_ only briefly.
  Status CallPhase2(const TxnPtr& txn, std::size_t i, Phase2Op op);
  void ScheduleRetryLocked(Txn& t, std::size_t i);
  void MaybeFinish(const TxnPtr& txn);
  void FinishLocked(Txn& t);
  // Keeps a final transaction for Get/List (and checkpoints): the newest max_finished_kept;
  // drops the oldest beyond it from txns_.
  void KeepFinishedLocked(const std::string& gid);

  // --- resolve.cc ---
  Result<TxnView> ResolveConsistent(const TxnPtr& txn, const ResolveRequest& r);
  Result<TxnView> ResolveHeuristic(const TxnPtr& txn, const ResolveRequest& r);
  // After a durable heuristic DECISION: best-effort calls, kHeuristic marks, forced END.
  void SettleHeuristic(const TxnPtr& txn);
  // The operator fields of t's decision (heuristic, operator, reason) into a snapshot.
  static void OperatorFieldsOf(const Txn& t, internal::v1::Decision& d);
  // Txn::reason after an operator's decision.
  static std::string OperatorReason(bool commit, bool heuristic, bool mixed,
                                    const std::string& operator_id, const std::string& reason);

  // --- saga.cc / saga_steps.cc ---
  Result<TxnPtr> BuildSaga(const SagaRequest& r) const;
  void SagaAdvance(const TxnPtr& txn);
  void SagaTurnBack(const TxnPtr& txn);
  // here: on this thread (a waiting SubmitSaga's, SagaRequest::caller_waits) if the
  // participant's channel has a free slot, else on the pool.
  void SagaStartStep(const TxnPtr& txn, std::size_t i, bool backward, bool here);
  void SagaSend(const TxnPtr& txn, std::size_t i, bool here = false);
  // The outcome of one step call: an Execute's result forward, a Compensate's status backward
  // (either way `status` when no call was made: breaker open).
  struct SagaOutcome {
    bool backward = false;
    std::optional<Result<participant::ExecuteResult>> executed;
    Status status;
  };
  void SagaRun(const TxnPtr& txn, std::size_t i);  // SagaCall, then SagaDeliver
  std::optional<SagaOutcome> SagaCall(const TxnPtr& txn, std::size_t i);  // nullopt: stopped
  void SagaDeliver(const TxnPtr& txn, std::size_t i, const SagaOutcome& out);
  void SagaForwardResult(const TxnPtr& txn, std::size_t i,
                         const Result<participant::ExecuteResult>& r);
  void SagaCompensateResult(const TxnPtr& txn, std::size_t i, const Status& s);
  void SagaStepRecord(const TxnPtr& txn, std::size_t i, int phase, int event,
                      const std::function<void(Branch&)>& mutate);
  void SagaEnd(const TxnPtr& txn, bool compensated);
  void SagaResumeLocked(const internal::ReplayTxn& rt, Txn& txn);
  // The saga's steps from its BEGIN and their states from its step records (or a checkpoint's
  // summaries), with Txn::fail_reason; the part of SagaResumeLocked a finished saga needs too.
  static void SagaStepsOf(const internal::ReplayTxn& rt, Txn& txn);
  void SagaSnapshotLocked(const Txn& t, internal::v1::TxnSnapshot& s) const;
  Status SagaRetryNowLocked(Txn& t, std::vector<std::size_t>& todo);

  // --- resume.cc (recovery), housekeeping.cc (periodic work), checkpoint.cc ---
  struct ResumeWork {
    std::vector<std::function<void()>> steps;
    std::size_t next = 0;
  };
  void ResumeSlice(std::shared_ptr<ResumeWork> work);
  void StartTimers();
  void Every(std::chrono::milliseconds interval, std::function<void()> fn);
  void Tick();
  // Drops idempotency records past the horizon, then the oldest beyond max_idempotency_keys
  // (counted as evicted); never one whose transaction is not final (it waits at the back).
  void TrimIdempotencyLocked();
  // Every live transaction, appended to `body` as Checkpoint.transactions entries, taking mu_
  // for one slice of live_ at a time (not held between slices). Sets txn_tracking_. False:
  // stopped at the fault point coordinator.checkpoint.between_slices.
  bool SerializeLiveInSlices(std::string& body);
  // Appends the current entry of every transaction touched since txn_tracking_ was set, or a
  // Checkpoint.ended entry for one no longer live, and stops tracking. Under the gate.
  void AppendChangedLiveLocked(std::string& body);
  // A transaction's snapshot entry may have changed (a record for it, or it entered, left or
  // moved in live_): noted while a checkpoint serializes live_ in slices.
  void TouchLiveLocked(const std::string& gid);
  // Stops both trackings (a checkpoint ended early).
  void StopTrackingLocked();
  // Every idempotency record, serialized as Checkpoint.idempotency entries, taking mu_ for one
  // slice of records at a time (not held between slices).
  std::string SerializeIdempotencyInSlices();
  // Appends the records of the keys touched since idem_tracking_ was set, and stops tracking.
  void AppendChangedIdempotencyLocked(std::string& body);
  // A key's record was added or changed: noted while a checkpoint serializes idem_ in slices.
  void TouchIdempotencyLocked(const std::string& key);
  void LiveSnapshotLocked(const Txn& t, internal::v1::TxnSnapshot& s) const;
  // The kept finished transactions (finished_), oldest first, appended to `body` as
  // Checkpoint.finished entries a slice at a time (mu_ not held between slices). Returns the
  // finished_total_ it went up to: AppendFinishedSinceLocked adds the ones after it at the cut.
  std::uint64_t SerializeFinishedInSlices(std::string& body);
  void AppendFinishedSinceLocked(std::string& body, std::uint64_t from);
  // A final transaction as a Checkpoint.finished entry, and back (Resume): its outcome, reason,
  // operator fields, branches (saga steps) as far as the records tell, and timeline.
  void FinishedSnapshotLocked(const Txn& t, internal::v1::TxnSnapshot& s) const;
  void RestoreFinishedLocked(const internal::ReplayTxn& rt);
  // live_ bookkeeping: a transaction is added where it enters txns_ not final (and in_flight_
  // counts it), removed by FinishLocked.
  void AddLiveLocked(Txn& t);
  void RemoveLiveLocked(Txn& t);  // no-op if it is not live

  Config cfg_;
  std::map<std::string, std::shared_ptr<participant::Participant>> parts_;
  std::shared_ptr<wal::Log> log_;
  Clock& clock_;
  Random& random_;
  Backoff prepare_backoff_;
  Backoff phase2_backoff_;
  Backoff saga_backoff_;  // forward retries of saga steps (prepare_backoff's policy)

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::thread_pool pool_;
  std::map<std::string, std::unique_ptr<internal::ParticipantChannel>> channels_;

  std::mutex checkpoint_mu_;  // one CheckpointNow at a time; taken before wal_gate_ and mu_
  std::shared_mutex wal_gate_;
  mutable std::mutex mu_;
  // Every transaction held: live ones and up to max_finished_kept final ones. Hashed: a few
  // lookups per transaction, among ~10,000 entries (a tree's string compares missed the cache).
  std::unordered_map<std::string, TxnPtr> txns_;
  std::deque<std::string> finished_;  // gids of final transactions, oldest first
  std::uint64_t finished_total_ = 0;  // gids ever added to finished_ (its back's number + 1)
  // The transactions not final yet, in no order (Txn::live_slot): what a checkpoint snapshots,
  // without walking the up to max_finished_kept final ones kept in txns_.
  std::vector<Txn*> live_;
  bool txn_tracking_ = false;               // a checkpoint is serializing live_ in slices
  std::vector<std::string> txn_dirty_;      // gids touched since (TouchLiveLocked)
  std::map<std::string, IdemRecord> idem_;  // ordered: slices resume after the last key
  bool idem_tracking_ = false;              // a checkpoint is serializing idem_ in slices
  std::vector<std::string> idem_dirty_;     // keys touched since (TouchIdempotencyLocked)
  // Expiry order of idem_: (created, key), oldest first; entries whose record was replaced or
  // erased are skipped. Keeps the periodic expiry from scanning every record.
  std::deque<std::pair<Clock::WallTime, std::string>> idem_order_;
  std::vector<TxnPtr> open_active_;  // open transactions that may still be active (timeouts)
  // One-shot transactions whose Submit thread is running a prepare call itself (until Decide):
  // Tick aborts them once past their prepare deadline, as Decide would if it were waiting.
  std::vector<TxnPtr> inline_prepares_;
  std::map<std::pair<std::string, participant::BranchId>, Clock::MonoTime> orphan_seen_;
  std::size_t in_flight_ = 0;
  Status halted_;
  bool replay_done_ = false;
  // Atomics: AfterDurable runs once per record and must not take mu_.
  std::atomic<std::uint64_t> records_since_checkpoint_{0};
  std::atomic<std::uint64_t> bytes_since_checkpoint_{0};  // record bodies
  std::atomic<std::uint64_t> last_checkpoint_bytes_{0};   // the last snapshot's size
  std::atomic<bool> checkpoint_pending_{false};
  Metrics metrics_;
  // Call counters live apart from mu_ (a leaf lock): every participant call bumps one.
  mutable std::mutex calls_mu_;
  std::map<std::string, std::map<std::string, std::uint64_t>> branch_calls_;

  // Guards AppendAsync callbacks that the log may run after the engine is gone.
  struct Life {
    std::mutex mu;
    bool alive = true;
  };
  std::shared_ptr<Life> life_ = std::make_shared<Life>();
  std::atomic<bool> stopping_{false};
  std::atomic<bool> halted_flag_{false};
  std::thread io_thread_;
};

}  // namespace txcoord::coordinator
