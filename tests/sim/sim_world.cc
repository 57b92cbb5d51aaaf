// The simulation's ports: the group-commit WAL, the faulty network in front of the store, the
// timers, the answers; each checks what it can see (sim_world.h).
#include <iostream>

#include "sim_world.h"
#include "txcoord/coordinator/twopc_codec.h"

namespace txcoord::sim {

using namespace twopc;

namespace {
constexpr std::uint64_t kCallTimeoutMs = 40;  // a call with no reply by then: kUnknown
constexpr std::uint64_t kRetryCapMs = 100;
constexpr std::uint64_t kSettleMs = 100;
enum Op { kPrepareOp, kCommitOp, kAbortOp };
}  // namespace

World::World(SimOptions options) : opt_(options), rng_(options.seed) {}
World::~World() = default;

bool World::Chance(double p) {
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

std::uint64_t World::Between(std::uint64_t lo, std::uint64_t hi) {
  return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
}

void World::At(std::uint64_t delay, std::function<void()> fn) {
  queue_.push(Item{now_ + delay, order_++, std::move(fn)});
}

void World::ToCoordinator(std::uint64_t delay, std::function<void()> fn) {
  At(delay, [this, ep = epoch_, fn = std::move(fn)] {
    if (ep == epoch_ && !down_) fn();
  });
}

void World::Append(const Ref& ref, Seq seq, const Record& record, bool forced) {
  unsynced_.push_back(Pending{ref, seq, coordinator::EncodeTwopcRecord(record)});
  if (sync_scheduled_) return;
  sync_scheduled_ = true;
  // Group commit: a forced append syncs soon; lazy ones ride along or wait for a later sync.
  ToCoordinator(forced ? Between(1, 3) : Between(5, 20), [this] { Sync(); });
}

void World::Sync() {
  sync_scheduled_ = false;
  std::vector<Pending> batch;
  batch.swap(unsynced_);
  if (batch.empty()) return;
  if (faults_ && Chance(0.003)) {
    // fsync failed: some prefix of the batch may be on disk anyway; the shard fail-stops.
    const std::size_t kept = Between(0, batch.size());
    for (std::size_t i = 0; i < kept; ++i) {
      wal_.push_back(batch[i].bytes);
      Learn(batch[i].bytes);
    }
    Trace("fsync failed; " + std::to_string(kept) + "/" + std::to_string(batch.size()) +
          " records on disk anyway");
    for (const Pending& p : batch) {
      if (shard_) shard_->OnAppendFailed(p.ref, p.seq, DataLoss("fsync failed"));
    }
    return Crash("fail-stop after fsync error");
  }
  for (const Pending& p : batch) {
    wal_.push_back(p.bytes);
    Learn(p.bytes);
  }
  for (const Pending& p : batch) {
    if (!shard_ || down_) return;
    shard_->OnDurable(p.ref, p.seq);
  }
}

void World::Learn(const std::string& bytes) {
  Result<Record> r = coordinator::DecodeTwopcRecord(bytes);
  if (!r.ok()) return Violation("a WAL record does not decode: " + r.status().ToString());
  if (auto* b = std::get_if<BeginRecord>(&*r)) {
    Truth t{b->gid, {}, false, false, false, false};
    for (const BranchSpec& s : b->branches) {
      t.branches.push_back(s.branch);
      branch_truth_[s.branch] = truths_.size();
    }
    gid_truth_[b->gid] = truths_.size();
    truths_.push_back(std::move(t));
    ++result_.txns;
    return;
  }
  const std::string& gid =
      std::visit([](const auto& x) -> const std::string& { return x.gid; }, *r);
  auto it = gid_truth_.find(gid);
  if (it == gid_truth_.end()) return Violation("durable record of " + gid + " without BEGIN");
  Truth& t = truths_[it->second];
  if (auto* g = std::get_if<RegisterRecord>(&*r)) {
    t.branches.push_back(g->branch.branch);
    branch_truth_[g->branch.branch] = it->second;
  } else if (auto* d = std::get_if<DecisionRecord>(&*r)) {
    if (d->heuristic) t.heuristic = true;
    if (d->outcome == Outcome::kCommit && !t.commit_durable) {
      t.commit_durable = true;
      ++result_.committed;
    }
  }
}

void World::Prepare(const Ref& ref, const BranchSpec& branch, Token token) {
  Call(ref, branch.branch, kPrepareOp, token, branch.action == "refuse");
}

void World::Commit(const Ref& ref, const std::string&, const std::string& branch, Token token) {
  auto it = branch_truth_.find(branch);
  if (it == branch_truth_.end() || !truths_[it->second].commit_durable) {
    return Violation("commit of " + branch + " sent before its COMMIT decision was durable");
  }
  Call(ref, branch, kCommitOp, token, false);
}

void World::Abort(const Ref& ref, const std::string&, const std::string& branch, Token token) {
  Call(ref, branch, kAbortOp, token, false);
}

void World::Call(const Ref& ref, const std::string& branch, int op, Token token, bool refuse) {
  const bool drop_request = faults_ && Chance(0.04);
  const bool drop_reply = faults_ && Chance(0.04);
  const bool duplicate = faults_ && Chance(0.05);
  const bool unavailable = faults_ && Chance(0.05);  // refused before touching the store
  const bool refuse_now = refuse || (faults_ && op == kPrepareOp && Chance(0.03));
  auto reply = [this, ref, branch, op, token](StoreReply r, bool failed) {
    if (op == kPrepareOp) {
      Vote v = failed ? Vote::kError : r == StoreReply::kYes ? Vote::kYes : Vote::kNo;
      shard_->OnPrepareReply(ref, PrepareReply{branch, v, token, failed ? "unavailable" : ""});
    } else {
      Ack a = failed ? Ack::kRetryable : r == StoreReply::kConflict ? Ack::kConflict : Ack::kOk;
      shard_->OnPhase2Reply(ref, Phase2Reply{branch, a, token, ""});
    }
  };
  auto unknown = [this, ref, branch, op, token] {
    if (op == kPrepareOp) {
      shard_->OnPrepareReply(ref, PrepareReply{branch, Vote::kUnknown, token, "no reply"});
    } else {
      shard_->OnPhase2Reply(ref, Phase2Reply{branch, Ack::kUnknown, token, "no reply"});
    }
  };
  auto deliver = [this, branch, op, refuse_now] {
    StoreReply r = op == kPrepareOp  ? store_.Prepare(branch, refuse_now)
                   : op == kCommitOp ? store_.Commit(branch)
                                     : store_.Abort(branch);
    CheckStore(branch);
    return r;
  };
  if (unavailable) return ToCoordinator(Between(1, 10), [reply] { reply(StoreReply::kNo, true); });
  if (drop_request || drop_reply) ToCoordinator(kCallTimeoutMs, unknown);
  if (drop_request) {
    // Lost, or only late: it may reach the store after the caller gave up.
    if (Chance(0.5)) At(Between(kCallTimeoutMs, 3 * kCallTimeoutMs), [deliver] { deliver(); });
    return;
  }
  const std::uint64_t there = Between(1, 15);
  const std::uint64_t back = Between(1, kCallTimeoutMs - 1 - there);
  const std::uint64_t ep = epoch_;
  At(there, [this, deliver, reply, drop_reply, duplicate, back, ep] {
    const StoreReply r = deliver();
    if (duplicate) At(Between(1, 60), [deliver] { deliver(); });
    if (drop_reply) return;
    At(back, [this, reply, r, ep] {
      if (ep == epoch_ && !down_) reply(r, false);
    });
  });
}

void World::Report(const std::string&, Health) {}

void World::Arm(const Ref& ref, TimerId id, TimerKind kind, std::uint32_t attempt,
                std::int64_t timeout_ms) {
  std::uint64_t delay = kSettleMs;
  if (kind == TimerKind::kPrepareDeadline) delay = static_cast<std::uint64_t>(timeout_ms);
  if (kind == TimerKind::kRetry) {  // capped exponential backoff with jitter
    const std::uint64_t base = std::min<std::uint64_t>(kRetryCapMs, 2ull << std::min(attempt, 10u));
    delay = base / 2 + Between(0, base / 2);
  }
  const std::string key = ref.gid + "#" + std::to_string(ref.incarnation);
  ToCoordinator(delay, [this, ref, id, key] {
    if (cancelled_.erase({key, id}) > 0) return;
    shard_->OnTimer(ref, id);
  });
}

void World::Cancel(const Ref& ref, TimerId id) {
  cancelled_.insert({ref.gid + "#" + std::to_string(ref.incarnation), id});
}

void World::Answer(Waiter waiter, const Result<View>& result) {
  auto it = waiters_.find(waiter);
  if (it == waiters_.end())
    return Violation("waiter " + std::to_string(waiter) + " answered twice (or never asked)");
  if (opt_.verbose)
    Trace("answer " + it->second + ": " +
          (result.ok() ? std::string(StateName(result->state)) : result.status().ToString()));
  waiters_.erase(it);
  if (result.ok()) CheckView(*result, "answer");
}

void World::Publish(const View& view) {
  CheckView(view, "publish");
}

void World::Rejected(const Ref& ref, const Status& why) {
  Trace("rejected " + ref.gid + ": " + why.ToString());
  if (why.code() == Code::kInternal) Violation("machine rejected an event: " + why.ToString());
}

std::string World::NewIncarnation() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t x = rng_();
  std::string s;
  for (int i = 0; i < 12; ++i, x >>= 4) s.push_back(kHex[x & 15]);
  return s;
}

}  // namespace txcoord::sim
