// RedisParticipant: resolves calls into filled plans, binds each branch to its hash tag (inside
// the script on standalone servers, with a SET NX GET first on a cluster), and runs the protocol
// scripts (lua/*.lua). See docs/adapters-redis.md.
#include "txcoord/redis/participant.h"

#include <algorithm>
#include <iostream>
#include <mutex>
#include <thread>

#include "branch_cache.h"
#include "msgpack.h"
#include "plan.h"
#include "pool.h"
#include "scripts.h"
#include "txcoord/core/fault.h"

namespace txcoord::redis {

using internal::Effect;
using participant::BranchCall;
using participant::BranchId;
using participant::ExecuteResult;
using participant::Outcome;
using participant::Payload;
using participant::PrepareResult;
using participant::Vote;

struct RedisParticipant::Resolved {
  BranchId id;
  ActionPlan plan;
  std::string tag;
};

namespace {

// Staged branches remembered for Commit/Abort (branch_cache.h); beyond this, the oldest go.
constexpr std::size_t kStagedCacheSize = 16384;
// Deferred index EXPIREs: at most this many ride in one pipeline; beyond kMaxPendingExpiries
// queued (no traffic to carry them, or Redis unreachable), the oldest are dropped: a dropped
// EXPIRE leaks one small index key of a finished branch, nothing more.
constexpr std::size_t kExpiriesPerCall = 64;
constexpr std::size_t kMaxPendingExpiries = 16384;

std::string Reason(const std::vector<std::string>& reply) {
  return reply.size() > 1 ? reply[1] : std::string();
}

// The warning when INFO cluster gave no usable answer (`why`): the safe path is taken.
std::string CannotTellClusterMode(const std::string& why) {
  return "cannot tell whether the server runs in cluster mode (" + why +
         "): Prepare, Execute and Compensate take 2 round trips (index_in_script \"on\" gives 1 "
         "on a standalone server)";
}

// Whether the index binding found by a Prepare/Execute/Compensate stops it: the abort fence, or
// a binding to another tag ("" = unbound, or bound to this call's tag: go on).
bool Stops(const std::string& bound, const std::string& tag) {
  return bound == internal::kAbortedMark || (!bound.empty() && bound != tag);
}

// The answers to a binding that stops the call (the same whether BindTag or the script found it).
Result<PrepareResult> PrepareStopped(const BranchId& id, const std::string& tag,
                                     const std::string& bound) {
  if (bound == internal::kAbortedMark) return PrepareResult{Vote::kNo, "aborted before prepare"};
  return Conflict(participant::ToString(id) + " is bound to keys of hash tag {" + bound +
                  "}, this call has {" + tag + "}");
}

Result<ExecuteResult> ExecuteStopped(const BranchId& id, const std::string& bound) {
  if (bound == internal::kAbortedMark) {
    return Conflict(participant::ToString(id) + " is an aborted 2PC branch");
  }
  // Compensated first with other keys, or the id is reused: running now could hang.
  return ExecuteResult{Outcome::kRefused, "branch already bound to hash tag {" + bound + "}"};
}

Status CompensateStopped(const BranchCall& call, const std::string& tag, const std::string& bound) {
  if (bound == internal::kAbortedMark) {
    return Conflict(participant::ToString(call.id) + " is an aborted 2PC branch");
  }
  return InvalidArgument("compensation \"" + call.action + "\" uses hash tag {" + tag +
                         "} but the action used {" + bound + "}: they must share one tag");
}

void LogWriteErrors(const std::string& name, const BranchId& id,
                    const std::vector<std::string>& reply, std::size_t from) {
  for (std::size_t i = from; i < reply.size(); ++i) {
    std::cerr << "txcoord redis participant " << name << ": " << participant::ToString(id)
              << ": a write failed (data changed outside txcoord): " << reply[i] << "\n";
  }
}

}  // namespace

RedisParticipant::RedisParticipant(Config config, Clock& clock)
    : config_(std::move(config)),
      clock_(clock),
      pool_(std::make_unique<internal::Pool>(config_.endpoint, config_.pool_size, config_.timeout)),
      staged_(std::make_unique<internal::BranchCache>(kStagedCacheSize, config_.barrier_ttl)) {}

RedisParticipant::~RedisParticipant() {
  // Best effort: send the EXPIREs still queued (one pipelined round trip per batch).
  for (int batch = 0; batch < 16; ++batch) {
    std::vector<std::vector<std::string>> expiries = TakeExpiries(1024);
    if (expiries.empty()) break;
    if (!pool_->Run({"PING"}, Effect::kRead, expiries).ok()) break;
  }
}

Result<std::unique_ptr<RedisParticipant>> RedisParticipant::Create(Config config, Clock& clock) {
  if (config.name.empty()) return InvalidArgument("config: name must not be empty");
  if (config.endpoint.host.empty()) {  // a hand-built Config may give only the url
    TXC_ASSIGN_OR_RETURN(config.endpoint, ParseUrl(config.url));
  }
  if (config.pool_size < 1) return InvalidArgument("config: pool_size must be >= 1");
  if (config.timeout.count() <= 0) return InvalidArgument("config: timeout_ms must be > 0");
  if (config.lock_wait.count() < 0) return InvalidArgument("config: lock_wait_ms must be >= 0");
  if (config.barrier_ttl.count() < 0) return InvalidArgument("config: barrier_ttl_s must be >= 0");
  for (const auto& [name, plan] : config.actions) {
    TXC_RETURN_IF_ERROR(CheckPlanShape(plan, true).Annotate("config: action \"" + name + "\""));
  }
  std::unique_ptr<RedisParticipant> p(new RedisParticipant(std::move(config), clock));
  p->CheckDurability();
  p->PlaceIndex();
  for (const std::string& w : p->warnings_) {
    std::cerr << "txcoord redis participant " << p->name() << ": warning: " << w << "\n";
  }
  return p;
}

void RedisParticipant::CheckDurability() {
  const std::pair<const char*, const char*> wanted[] = {{"appendonly", "yes"},
                                                        {"appendfsync", "always"}};
  for (const auto& [param, value] : wanted) {
    Result<internal::Reply> r = pool_->Run({"CONFIG", "GET", param}, Effect::kRead);
    std::string got;
    if (r.ok() && (*r)->type == REDIS_REPLY_ARRAY && (*r)->elements == 2) {
      got.assign((*r)->element[1]->str, (*r)->element[1]->len);
    }
    if (!r.ok() || got.empty()) {
      warnings_.push_back(std::string("cannot read the server's ") + param + " (" +
                          (r.ok() ? "CONFIG GET refused" : r.status().ToString()) +
                          "): durability of prepared branches is not verified");
      return;
    }
    if (got != value) {
      warnings_.push_back(std::string(param) + " is '" + got + "', not '" + value +
                          "': prepared and committed branches may be lost in a crash");
    }
  }
}

RedisParticipant::IndexPlace RedisParticipant::AskIndexPlace(std::string& why) {
  Result<internal::Reply> r = pool_->Run({"INFO", "cluster"}, Effect::kRead);
  if (!r.ok()) {
    // Refused outright (NOAUTH, a MOVED...): the server will not tell. Else unreachable: ask later.
    const Code c = r.status().code();
    if (c == Code::kUnavailable || c == Code::kTimeout || c == Code::kResourceExhausted) {
      why = r.status().ToString();
      return IndexPlace::kUnknown;
    }
    why = "INFO cluster failed: " + r.status().ToString();
    return IndexPlace::kSeparate;
  }
  const redisReply* reply = r->get();
  if (reply->type != REDIS_REPLY_STRING) {
    why = "INFO cluster refused";
    if (reply->type == REDIS_REPLY_ERROR) why += ": " + std::string(reply->str, reply->len);
    return IndexPlace::kSeparate;
  }
  const std::string_view info(reply->str, reply->len);
  constexpr std::string_view kField = "cluster_enabled:";
  const std::size_t at = info.find(kField);
  const char flag = at == std::string_view::npos || at + kField.size() >= info.size()
                        ? '?'
                        : info[at + kField.size()];
  if (flag == '0') return IndexPlace::kScript;
  if (flag == '1') return IndexPlace::kSeparate;
  why = "INFO cluster has no cluster_enabled field";
  return IndexPlace::kSeparate;
}

void RedisParticipant::PlaceIndex() {
  if (config_.index_in_script != IndexInScript::kAuto) {
    index_place_ =
        config_.index_in_script == IndexInScript::kOn ? IndexPlace::kScript : IndexPlace::kSeparate;
    return;
  }
  std::string why;
  const IndexPlace place = AskIndexPlace(why);
  index_place_ = place;
  if (place == IndexPlace::kUnknown) {
    warnings_.push_back("cannot ask whether the server runs in cluster mode (" + why +
                        "): Prepare, Execute and Compensate take 2 round trips until it answers");
  } else if (!why.empty()) {
    warnings_.push_back(CannotTellClusterMode(why));
  }
}

RedisParticipant::IndexPlace RedisParticipant::CurrentIndexPlace() {
  IndexPlace place = index_place_.load();
  if (place != IndexPlace::kUnknown) return place;
  std::string why;
  const IndexPlace asked = AskIndexPlace(why);
  if (asked == IndexPlace::kUnknown) return IndexPlace::kSeparate;  // this call: the safe path
  if (index_place_.compare_exchange_strong(place, asked) && !why.empty()) {
    std::cerr << "txcoord redis participant " << name()
              << ": warning: " << CannotTellClusterMode(why) << "\n";
  }
  return index_place_.load();
}

std::uint64_t RedisParticipant::round_trips() const {
  return pool_->RoundTrips();
}

Status RedisParticipant::RegisterAction(std::string name, ActionHandler handler) {
  if (name.empty()) return InvalidArgument("action name must not be empty");
  if (!handler) return InvalidArgument("action \"" + name + "\" has no handler");
  if (config_.actions.count(name)) {
    return InvalidArgument("action \"" + name + "\" is already declared in the config");
  }
  std::unique_lock lock(handlers_mu_);
  if (!handlers_.emplace(name, std::move(handler)).second) {
    return InvalidArgument("action \"" + name + "\" is already registered");
  }
  return Status::Ok();
}

Result<ActionPlan> RedisParticipant::PlanFor(std::string_view action,
                                             const Payload& payload) const {
  if (const auto it = config_.actions.find(action); it != config_.actions.end()) {
    Result<ActionPlan> plan = internal::Expand(it->second, payload);
    if (!plan.ok()) return plan.status().Annotate("action \"" + std::string(action) + "\"");
    return plan;
  }
  ActionHandler handler;
  {
    std::shared_lock lock(handlers_mu_);
    const auto it = handlers_.find(action);
    if (it == handlers_.end()) {
      return NotFound("participant " + name() + " has no action \"" + std::string(action) + "\"");
    }
    handler = it->second;
  }
  try {
    return handler(payload);
  } catch (const std::exception& e) {
    return Internal("action \"" + std::string(action) + "\" threw: " + e.what());
  }
}

Status RedisParticipant::Validate(std::string_view action, const Payload& payload) const {
  TXC_ASSIGN_OR_RETURN(ActionPlan plan, PlanFor(action, payload));
  return internal::CheckFilled(plan).status().Annotate("action \"" + std::string(action) + "\"");
}

Result<RedisParticipant::Resolved> RedisParticipant::Resolve(const BranchCall& call) const {
  TXC_RETURN_IF_ERROR(participant::Validate(call.id));
  Resolved r;
  r.id = call.id;
  TXC_ASSIGN_OR_RETURN(r.plan, PlanFor(call.action, call.payload));
  Result<std::string> tag = internal::CheckFilled(r.plan);
  if (!tag.ok()) return tag.status().Annotate("action \"" + call.action + "\"");
  r.tag = std::move(tag).value();
  return r;
}

void RedisParticipant::DeferExpire(const BranchId& id) {
  if (config_.barrier_ttl.count() == 0) return;
  std::lock_guard lock(expire_mu_);
  expire_.push_back(internal::IndexKey(id));
  while (expire_.size() > kMaxPendingExpiries) expire_.pop_front();
}

std::vector<std::vector<std::string>> RedisParticipant::TakeExpiries(std::size_t at_most) {
  std::vector<std::vector<std::string>> out;
  if (config_.barrier_ttl.count() == 0) return out;
  const std::string ttl = std::to_string(config_.barrier_ttl.count());
  std::lock_guard lock(expire_mu_);
  while (!expire_.empty() && out.size() < at_most) {
    out.push_back({"EXPIRE", std::move(expire_.front()), ttl});
    expire_.pop_front();
  }
  return out;
}

// After a failed call the EXPIREs may not have run: queue them again (EXPIRE twice is harmless).
void RedisParticipant::Requeue(std::vector<std::vector<std::string>> expiries) {
  std::lock_guard lock(expire_mu_);
  for (auto& e : expiries) {
    if (expire_.size() >= kMaxPendingExpiries) break;
    expire_.push_back(std::move(e[1]));
  }
}

// Binds the branch to `tag` (first call wins) and returns the earlier binding ("" if none).
Result<std::string> RedisParticipant::BindTag(const BranchId& id, const std::string& tag) {
  std::vector<std::vector<std::string>> expiries = TakeExpiries(kExpiriesPerCall);
  Result<internal::Reply> bound =
      pool_->Run({"SET", internal::IndexKey(id), tag, "NX", "GET"}, Effect::kMutating, expiries);
  if (!bound.ok()) Requeue(std::move(expiries));
  TXC_ASSIGN_OR_RETURN(internal::Reply r, std::move(bound));
  if (r->type == REDIS_REPLY_NIL) return std::string();
  if (r->type != REDIS_REPLY_STRING) {
    return Internal("redis SET NX GET: unexpected reply " + std::to_string(r->type));
  }
  return std::string(r->str, r->len);
}

Result<std::vector<std::string>> RedisParticipant::RunPlanScript(
    const internal::Script& script, const Resolved& r, bool last_attempt, bool in_script,
    const std::vector<std::vector<std::string>>& before) {
  // The layout of lua/checks.lua: barrier, prepared set, data keys, their locks[, index].
  const std::vector<std::string> touched = internal::TouchedKeys(r.plan);
  const std::string lock_prefix = internal::LockPrefix(r.tag);
  std::vector<std::string> keys = {internal::BarrierKey(r.tag, r.id),
                                   internal::PreparedSetKey(r.tag)};
  keys.insert(keys.end(), touched.begin(), touched.end());
  for (const std::string& k : touched) keys.push_back(lock_prefix + k);
  if (in_script) keys.push_back(internal::IndexKey(r.id));  // last: the script binds it

  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch());
  std::vector<std::string> args = {participant::PreparedName(r.id),
                                   std::to_string(now.count()),
                                   std::to_string(config_.barrier_ttl.count()),
                                   last_attempt ? "1" : "0",
                                   in_script ? r.tag : std::string(),
                                   internal::PackGuards(r.plan),
                                   internal::PackWrites(r.plan)};
  // prepare stores the writes and the data keys as they come (the barrier's `writes`, `keys`)
  if (&script == &internal::PrepareScript()) args.push_back(internal::PackStrings(touched));
  return internal::RunScript(*pool_, script, keys, args, Effect::kMutating, before);
}

// Retries a "locked" answer (nothing written but the index binding) with capped backoff until
// lock_wait has passed; the last attempt is marked so prepare records its "no".
Result<std::vector<std::string>> RedisParticipant::RunWithLockWait(const internal::Script& script,
                                                                   const Resolved& r,
                                                                   bool in_script) {
  // Bounded by the clock and by the time actually slept (a ManualClock may never move).
  const Clock::MonoTime deadline = clock_.Now() + config_.lock_wait;
  std::chrono::milliseconds pause(2), slept(0);
  // When the script binds the index, the deferred EXPIREs ride with its first attempt (else
  // they rode with BindTag's SET NX GET).
  std::vector<std::vector<std::string>> expiries;
  if (in_script) expiries = TakeExpiries(kExpiriesPerCall);
  while (true) {
    const bool last = clock_.Now() >= deadline || slept >= config_.lock_wait;
    Result<std::vector<std::string>> ran = RunPlanScript(script, r, last, in_script, expiries);
    if (!ran.ok()) Requeue(std::move(expiries));
    expiries.clear();
    TXC_ASSIGN_OR_RETURN(std::vector<std::string> reply, std::move(ran));
    if (reply[0] != "locked" || last) return reply;
    const auto left =
        std::min(config_.lock_wait - slept,
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.Now()));
    const auto nap = std::max(std::chrono::milliseconds(0), std::min(pause, left));
    std::this_thread::sleep_for(nap);
    slept += nap;
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

// Binds the branch to its tag and runs `script` (with the lock wait): on a standalone server
// the script binds the index itself (one round trip); otherwise SET NX GET goes first. A binding
// that stops the call (the abort fence, another tag) comes back as {"bound", binding} either
// way, with nothing staged. The fault points bracket the script.
Result<std::vector<std::string>> RedisParticipant::BindAndRun(const internal::Script& script,
                                                              const Resolved& r,
                                                              const char* before_script,
                                                              const char* after_script) {
  const bool in_script = CurrentIndexPlace() == IndexPlace::kScript;
  if (!in_script) {
    TXC_ASSIGN_OR_RETURN(std::string bound, BindTag(r.id, r.tag));
    if (Stops(bound, r.tag)) return std::vector<std::string>{"bound", bound};
  }
  TXC_RETURN_IF_ERROR(TXC_FAULT(before_script));
  TXC_ASSIGN_OR_RETURN(std::vector<std::string> reply, RunWithLockWait(script, r, in_script));
  TXC_RETURN_IF_ERROR(TXC_FAULT(after_script));
  return reply;
}

Result<PrepareResult> RedisParticipant::Prepare(const BranchCall& call) {
  TXC_ASSIGN_OR_RETURN(Resolved r, Resolve(call));
  TXC_ASSIGN_OR_RETURN(std::vector<std::string> reply,
                       BindAndRun(internal::PrepareScript(), r, "redis.prepare.before_script",
                                  "redis.prepare.after_script"));
  if (reply[0] == "bound") return PrepareStopped(r.id, r.tag, Reason(reply));
  if (reply[0] == "staged") {  // yes, and this call staged it: remember it for phase 2
    staged_->Put(participant::PreparedName(r.id), {r.tag, internal::TouchedKeys(r.plan)},
                 clock_.Now());
    return PrepareResult{Vote::kYes, ""};
  }
  if (reply[0] == "yes") return PrepareResult{Vote::kYes, ""};
  if (reply[0] == "no") {
    DeferExpire(r.id);  // the "no" is final: the records may go after the horizon
    return PrepareResult{Vote::kNo, Reason(reply)};
  }
  if (reply[0] == "conflict") return Conflict(participant::ToString(r.id) + ": " + Reason(reply));
  return Internal("prepare script answered " + reply[0]);
}

Status RedisParticipant::Finish(const internal::Script& script, const BranchId& id,
                                const std::string& tag,
                                const std::vector<std::string>* staged_keys) {
  // The script declares every key it touches: the staged data keys come from the cache or are
  // read from the barrier's `keys` field first (absent: not prepared, the script answers from
  // the state alone).
  const std::string barrier = internal::BarrierKey(tag, id);
  std::vector<std::string> keys = {barrier, internal::PreparedSetKey(tag)};
  if (staged_keys != nullptr) {
    keys.insert(keys.end(), staged_keys->begin(), staged_keys->end());
  } else {
    TXC_ASSIGN_OR_RETURN(internal::Reply staged,
                         pool_->Run({"HGET", barrier, "keys"}, Effect::kRead));
    if (staged->type == REDIS_REPLY_STRING) {
      Result<std::vector<std::string>> data =
          internal::UnpackStrings(std::string_view(staged->str, staged->len));
      if (!data.ok()) return data.status().Annotate(barrier + " field keys");
      keys.insert(keys.end(), data->begin(), data->end());
    }
  }
  const std::string lock_prefix = internal::LockPrefix(tag);
  const size_t data_keys = keys.size() - 2;
  for (size_t i = 0; i < data_keys; ++i) keys.push_back(lock_prefix + keys[2 + i]);
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch());
  const char* what = &script == &internal::CommitScript() ? "commit" : "abort";
  std::vector<std::vector<std::string>> expiries = TakeExpiries(kExpiriesPerCall);
  Result<std::vector<std::string>> ran =
      internal::RunScript(*pool_, script, keys,
                          {participant::PreparedName(id), std::to_string(now.count()),
                           std::to_string(config_.barrier_ttl.count()), lock_prefix},
                          Effect::kMutating, expiries);
  if (!ran.ok()) Requeue(std::move(expiries));
  TXC_ASSIGN_OR_RETURN(std::vector<std::string> reply, std::move(ran));
  if (reply[0] == "conflict") {
    staged_->Drop(participant::PreparedName(id));
    return Conflict(std::string(what) + " of " + participant::ToString(id) + ": " + Reason(reply));
  }
  if (reply[0] != "ok") return Internal(std::string(what) + " script answered " + reply[0]);
  staged_->Drop(participant::PreparedName(id));
  LogWriteErrors(name(), id, reply, 1);
  DeferExpire(id);
  return Status::Ok();
}

Status RedisParticipant::Commit(const BranchId& id) {
  TXC_RETURN_IF_ERROR(participant::Validate(id));
  // Staged by this process: tag and keys are known, the script is the only round trip.
  const std::optional<internal::StagedBranch> cached =
      staged_->Get(participant::PreparedName(id), clock_.Now());
  std::string tag;
  if (cached) {
    tag = cached->tag;
  } else {
    TXC_ASSIGN_OR_RETURN(internal::Reply r,
                         pool_->Run({"GET", internal::IndexKey(id)}, Effect::kRead));
    if (r->type != REDIS_REPLY_STRING) {
      return Conflict("commit of " + participant::ToString(id) +
                      ": never prepared here (or finished longer than barrier_ttl ago)");
    }
    tag.assign(r->str, r->len);
    if (tag == internal::kAbortedMark) {
      return Conflict("commit of " + participant::ToString(id) + ": aborted before prepare");
    }
  }
  TXC_RETURN_IF_ERROR(TXC_FAULT("redis.commit.before_script"));
  TXC_RETURN_IF_ERROR(Finish(internal::CommitScript(), id, tag, cached ? &cached->keys : nullptr));
  return TXC_FAULT("redis.commit.after_script");
}

Status RedisParticipant::Abort(const BranchId& id) {
  TXC_RETURN_IF_ERROR(participant::Validate(id));
  // Staged by this process: the index is bound to its tag (first binding wins), so the fence
  // below would be a no-op; the abort script is the only round trip.
  if (const std::optional<internal::StagedBranch> cached =
          staged_->Get(participant::PreparedName(id), clock_.Now())) {
    return Finish(internal::AbortScript(), id, cached->tag, &cached->keys);
  }
  std::vector<std::string> set = {"SET", internal::IndexKey(id),
                                  std::string(internal::kAbortedMark), "NX", "GET"};
  if (config_.barrier_ttl.count() > 0) {
    set.insert(set.end(), {"EX", std::to_string(config_.barrier_ttl.count())});
  }
  std::vector<std::vector<std::string>> expiries = TakeExpiries(kExpiriesPerCall);
  Result<internal::Reply> fenced = pool_->Run(set, Effect::kMutating, expiries);
  if (!fenced.ok()) Requeue(std::move(expiries));
  TXC_ASSIGN_OR_RETURN(internal::Reply r, std::move(fenced));
  if (r->type != REDIS_REPLY_STRING) return Status::Ok();  // recorded: a late prepare votes no
  const std::string tag(r->str, r->len);
  if (tag == internal::kAbortedMark) return Status::Ok();
  return Finish(internal::AbortScript(), id, tag, nullptr);
}

Result<ExecuteResult> RedisParticipant::Execute(const BranchCall& call) {
  TXC_ASSIGN_OR_RETURN(Resolved r, Resolve(call));
  TXC_ASSIGN_OR_RETURN(std::vector<std::string> reply,
                       BindAndRun(internal::ExecuteScript(), r, "redis.execute.before_script",
                                  "redis.execute.after_script"));
  if (reply[0] == "bound") return ExecuteStopped(r.id, Reason(reply));
  if (reply[0] == "done") {
    LogWriteErrors(name(), r.id, reply, 1);
    return ExecuteResult{Outcome::kDone, ""};
  }
  if (reply[0] == "refused") {
    DeferExpire(r.id);
    return ExecuteResult{Outcome::kRefused, Reason(reply)};
  }
  if (reply[0] == "locked") {
    return Unavailable("key " + (reply.size() > 2 ? reply[2] : "") + " is locked by prepared " +
                       Reason(reply) + "; retry");
  }
  if (reply[0] == "conflict") return Conflict(participant::ToString(r.id) + ": " + Reason(reply));
  return Internal("execute script answered " + reply[0]);
}

Status RedisParticipant::Compensate(const BranchCall& call) {
  TXC_ASSIGN_OR_RETURN(Resolved r, Resolve(call));
  TXC_ASSIGN_OR_RETURN(std::vector<std::string> reply,
                       BindAndRun(internal::CompensateScript(), r, "redis.compensate.before_script",
                                  "redis.compensate.after_script"));
  if (reply[0] == "bound") return CompensateStopped(call, r.tag, Reason(reply));
  if (reply[0] == "ok") {
    LogWriteErrors(name(), r.id, reply, 1);
    DeferExpire(r.id);
    return Status::Ok();
  }
  if (reply[0] == "locked") {
    return Unavailable("key " + (reply.size() > 2 ? reply[2] : "") + " is locked by prepared " +
                       Reason(reply) + "; retry");
  }
  if (reply[0] == "failed") {
    return FailedPrecondition("compensation of " + participant::ToString(r.id) + ": " +
                              Reason(reply));
  }
  if (reply[0] == "conflict") return Conflict(participant::ToString(r.id) + ": " + Reason(reply));
  return Internal("compensate script answered " + reply[0]);
}

}  // namespace txcoord::redis
