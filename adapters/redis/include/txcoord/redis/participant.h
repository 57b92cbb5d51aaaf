#pragma once
// RedisParticipant: txcoord's participant for Redis 7 (hiredis, synchronous, no TLS).
//
// Redis has no prepare: each protocol step is one idempotent Lua script over the branch's
// records (barrier hash, lock records, prepared set), all in the hash slot of the action's data
// keys. Key layout, script semantics and the cluster rule: docs/adapters-redis.md.
//
//   TXC_ASSIGN_OR_RETURN(auto cfg, redis::ParseConfig(json));
//   TXC_ASSIGN_OR_RETURN(auto p, redis::RedisParticipant::Create(std::move(cfg)));
//   for (const auto& w : p->warnings()) LOG(w);   // e.g. appendfsync is not 'always'
//
// Errors (besides the participant contract): the server unreachable → kUnavailable; a key
// locked by a prepared branch at Execute/Compensate after lock_wait → kUnavailable; a
// timeout or lost connection after a Prepare/Commit/Abort/Execute/Compensate was sent →
// kUnknownOutcome (every script is idempotent: retry it); pool exhausted → kResourceExhausted.
// Thread-safety: every method may be called from many threads at once.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "txcoord/core/clock.h"
#include "txcoord/participant/participant.h"
#include "txcoord/redis/config.h"

namespace txcoord::redis {

namespace internal {
class BranchCache;
class Pool;
struct Script;
}  // namespace internal

// Builds the (filled-in) plan of a C++-registered action from a call's payload. InvalidArgument
// for a payload it cannot use. Called from any thread, also by Validate (no store access).
using ActionHandler = std::function<Result<ActionPlan>(const participant::Payload&)>;

class RedisParticipant final : public participant::Participant {
 public:
  // Checks the config (InvalidArgument; `url` is parsed when `endpoint.host` is empty), asks the
  // server for its durability settings: a warning (see warnings(), also printed to stderr) when
  // appendonly is not 'yes' or appendfsync is not 'always', or when the server cannot be asked.
  // With index_in_script "auto" it also asks whether the server runs in cluster mode (`INFO
  // cluster`): standalone → Prepare/Execute/Compensate bind the branch inside their script (one
  // round trip); cluster → with a SET NX GET first (two). A server that refuses INFO gets two,
  // with a warning; one that cannot be reached gets two, with a warning, until it answers (asked
  // again at each Prepare/Execute/Compensate meanwhile).
  // Connections are made lazily. `clock` must outlive the participant.
  static Result<std::unique_ptr<RedisParticipant>> Create(Config config,
                                                          Clock& clock = Clock::Real());
  ~RedisParticipant() override;

  // Adds a C++ action. InvalidArgument if the name is empty, already declared or registered.
  Status RegisterAction(std::string name, ActionHandler handler);
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Whether Prepare/Execute/Compensate now bind the branch inside their script (one round trip).
  bool binds_in_script() const { return index_place_.load() == IndexPlace::kScript; }
  // Round trips (command pipelines) sent to the server since Create, Create's own included.
  std::uint64_t round_trips() const;

  const std::string& name() const override { return config_.name; }
  Status Validate(std::string_view action, const participant::Payload& payload) const override;
  Result<participant::PrepareResult> Prepare(const participant::BranchCall& call) override;
  Status Commit(const participant::BranchId& id) override;
  Status Abort(const participant::BranchId& id) override;
  Result<participant::ExecuteResult> Execute(const participant::BranchCall& call) override;
  Status Compensate(const participant::BranchCall& call) override;
  Result<std::vector<participant::InDoubtBranch>> InDoubt(std::string_view coordinator_id) override;

 private:
  struct Resolved;
  RedisParticipant(Config config, Clock& clock);
  Result<ActionPlan> PlanFor(std::string_view action, const participant::Payload& payload) const;
  Result<Resolved> Resolve(const participant::BranchCall& call) const;
  Result<std::string> BindTag(const participant::BranchId& id, const std::string& tag);
  // `in_script`: the index key is declared and the script binds it (see IndexPlace); `before`
  // rides in the same pipeline (Pool::Run).
  Result<std::vector<std::string>> RunPlanScript(
      const internal::Script& script, const Resolved& r, bool last_attempt, bool in_script,
      const std::vector<std::vector<std::string>>& before);
  Result<std::vector<std::string>> RunWithLockWait(const internal::Script& script,
                                                   const Resolved& r, bool in_script);
  // Prepare/Execute/Compensate: binds the index (in the script or first) and runs `script`; a
  // binding that stops the call is the reply {"bound", binding}.
  Result<std::vector<std::string>> BindAndRun(const internal::Script& script, const Resolved& r,
                                              const char* before_script, const char* after_script);
  // Runs the commit or abort script. `staged_keys`: the branch's data keys when known (from the
  // cache), else null and they are read from the barrier's `keys` field first.
  Status Finish(const internal::Script& script, const participant::BranchId& id,
                const std::string& tag, const std::vector<std::string>* staged_keys);
  void CheckDurability();  // fills warnings_
  // Where Prepare/Execute/Compensate bind the branch to its tag: inside their script (standalone
  // servers: one round trip) or with BindTag before it (two; the index key is in another slot).
  enum class IndexPlace { kUnknown, kScript, kSeparate };
  void PlaceIndex();  // at Create, from config_.index_in_script; fills warnings_
  // kScript or kSeparate, asking the server again while kUnknown (it was unreachable).
  IndexPlace CurrentIndexPlace();
  // Asks `INFO cluster`: kScript, kSeparate, or kUnknown (not reachable); `why` says why the
  // answer is kSeparate for a server that does not tell (empty for a cluster).
  IndexPlace AskIndexPlace(std::string& why);
  // The index EXPIRE of a final branch is not sent on its own: it is queued and rides, best
  // effort, in the pipeline of the next mutating call (same write, same AOF fsync).
  void DeferExpire(const participant::BranchId& id);
  std::vector<std::vector<std::string>> TakeExpiries(std::size_t at_most);
  void Requeue(std::vector<std::vector<std::string>> expiries);

  Config config_;
  Clock& clock_;
  std::unique_ptr<internal::Pool> pool_;
  std::unique_ptr<internal::BranchCache> staged_;  // branches this process staged
  std::mutex expire_mu_;
  std::deque<std::string> expire_;  // index keys of final branches, EXPIRE not yet sent
  std::vector<std::string> warnings_;
  std::atomic<IndexPlace> index_place_{IndexPlace::kUnknown};
  mutable std::shared_mutex handlers_mu_;
  std::map<std::string, ActionHandler, std::less<>> handlers_;
};

}  // namespace txcoord::redis
