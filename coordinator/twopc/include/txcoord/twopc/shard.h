#pragma once
// The shard core: owns the 2PC machines of its gids, turns requests and completions into
// events, and executes the machines' effects against four ports. Single-threaded: the owner
// (the simulation today, an event loop tomorrow) calls it from one thread and delivers every
// port completion back through the On* methods. No I/O, clock or randomness of its own.
#include <algorithm>
#include <deque>
#include <memory>
#include <unordered_map>

#include "txcoord/twopc/machine.h"

namespace txcoord::twopc {

// Which machine an effect came from; completions carry it back. A new incarnation of a gid
// (reused after the old one was forgotten) never receives the old one's completions.
struct Ref {
  std::string gid;
  std::uint64_t incarnation = 0;
};

class LogPort {
 public:
  virtual ~LogPort() = default;
  // Appends `record`; completes with Shard::OnDurable(ref, seq) once it is durable (forced or
  // not: a lazy record completes when a later sync covered it) or Shard::OnAppendFailed.
  virtual void Append(const Ref& ref, Seq seq, const Record& record, bool forced) = 0;
};

class ParticipantPort {
 public:
  virtual ~ParticipantPort() = default;
  // Each call completes with exactly one Shard::OnPrepareReply / OnPhase2Reply carrying the
  // token, within a bounded time (no reply in time = kUnknown).
  virtual void Prepare(const Ref& ref, const BranchSpec& branch, Token token) = 0;
  virtual void Commit(const Ref& ref, const std::string& participant, const std::string& branch,
                      Token token) = 0;
  virtual void Abort(const Ref& ref, const std::string& participant, const std::string& branch,
                     Token token) = 0;
  // How a reply counts for the participant's circuit breaker (kNeutral: not at all).
  virtual void Report(const std::string& participant, Health health) = 0;
};

class TimerPort {
 public:
  virtual ~TimerPort() = default;
  // The port picks the delay: kPrepareDeadline = timeout_ms; kRetry = capped backoff with
  // jitter for `attempt`; kSettle = the heuristic settle wait. Fires Shard::OnTimer(ref, id).
  virtual void Arm(const Ref& ref, TimerId id, TimerKind kind, std::uint32_t attempt,
                   std::int64_t timeout_ms) = 0;
  virtual void Cancel(const Ref& ref, TimerId id) = 0;
};

class AnswerPort {
 public:
  virtual ~AnswerPort() = default;
  virtual void Answer(Waiter waiter, const Result<View>& result) = 0;
  virtual void Publish(const View& view) = 0;
  // An event the machine refused (state unchanged), for logs and alerts.
  virtual void Rejected(const Ref& ref, const Status& why) = 0;
  // A fresh suffix for a branch incarnation (unique across restarts, e.g. random hex).
  virtual std::string NewIncarnation() = 0;
};

struct ShardPorts {
  LogPort* log = nullptr;
  ParticipantPort* participants = nullptr;
  TimerPort* timers = nullptr;
  AnswerPort* answers = nullptr;
};

// A one-shot or open transaction request. Branch ids are minted by the shard.
struct BeginRequest {
  std::string gid;
  std::vector<BranchSpec> branches;  // BranchSpec::branch ignored (minted)
  std::int64_t timeout_ms = 0;
  bool open = false;
  std::string idempotency_key;
  std::string request_hash;
};

class Shard {
 public:
  Shard(ShardPorts ports, std::size_t max_finished_kept);

  // Requests: each answers `waiter` exactly once through AnswerPort (maybe at once).
  void Begin(const BeginRequest& request, Waiter waiter);
  void Register(const std::string& gid, const std::string& participant, Waiter waiter);
  void Commit(const std::string& gid, Waiter waiter);
  void Abort(const std::string& gid, const std::string& reason, Waiter waiter);
  void Retry(const std::string& gid, Waiter waiter);
  void Resolve(const std::string& gid, OperatorResolve resolve);  // resolve.waiter answered
  Result<View> Get(const std::string& gid) const;

  // Port completions.
  void OnDurable(const Ref& ref, Seq seq);
  void OnAppendFailed(const Ref& ref, Seq seq, const Status& why);  // fail-stop
  void OnPrepareReply(const Ref& ref, PrepareReply reply);
  void OnPhase2Reply(const Ref& ref, Phase2Reply reply);
  void OnTimer(const Ref& ref, TimerId id);

  // Recovery: every durable record in log order, then Recovered once.
  void Replay(const Record& record);
  void Recovered();

  bool halted() const { return halted_; }
  std::size_t live() const;  // machines not final
  std::size_t size() const { return txns_.size(); }

 private:
  struct Entry {
    std::uint64_t incarnation = 0;
    std::unique_ptr<Machine> machine;
    std::string key;    // idempotency key, empty = none
    std::string hash;   // request hash under that key
    bool kept = false;  // counted in finished_
  };
  Entry* Find(const std::string& gid);
  Entry& Create(const std::string& gid);
  void Dispatch(const Ref& ref, const Event& event);  // stale ref: dropped
  void Run(Entry& e, const Event& event);
  void Execute(const Ref& ref, Effects effects);
  void KeepFinished(const std::string& gid);  // forgets the oldest beyond max_finished_
  void ForgetKey(const Entry& e, const std::string& gid);  // its key, if it still names gid
  bool Refuse(Waiter waiter);                              // halted: answers Unavailable

  ShardPorts ports_;
  std::size_t max_finished_;
  std::unordered_map<std::string, Entry> txns_;
  std::unordered_map<std::string, std::string> key_to_gid_;
  std::deque<std::pair<std::string, std::uint64_t>> finished_;  // oldest first
  std::uint64_t next_incarnation_ = 1;
  bool halted_ = false;
};

}  // namespace txcoord::twopc
