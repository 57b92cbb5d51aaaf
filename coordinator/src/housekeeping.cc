// Periodic work: open-transaction and prepare timeouts (Tick), idempotency expiry, the orphan
// scan. Recovery is in resume.cc, checkpoints in checkpoint.cc.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <set>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "engine.h"
#include "txcoord/core/log.h"

namespace txcoord::coordinator {

using internal::v1::Decision;

void Engine::Every(std::chrono::milliseconds interval, std::function<void()> fn) {
  After(interval, [this, interval, f = std::move(fn)]() mutable {
    boost::asio::post(pool_, [this, interval, g = std::move(f)]() mutable {
      if (Stopped()) return;
      g();
      Every(interval, std::move(g));
    });
  });
}

void Engine::StartTimers() {
  if (cfg_.tick.count() > 0) Every(cfg_.tick, [this] { Tick(); });
  if (cfg_.orphan_scan_interval.count() > 0) {
    Every(cfg_.orphan_scan_interval, [this] { RunOrphanScan().IgnoreError(); });
  }
  if (cfg_.checkpoint_interval.count() > 0) {
    Every(cfg_.checkpoint_interval, [this] {
      if (records_since_checkpoint_.load() > 0) CheckpointNow().IgnoreError();  // else no news
    });
  }
}

void Engine::Tick() {
  std::vector<TxnPtr> expired;
  std::vector<std::pair<TxnPtr, std::string>> prepare_timeouts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::WallTime now = clock_.WallNow();
    std::erase_if(open_active_, [&](const TxnPtr& t) {
      if (t->state != TxnState::kActive) return true;
      if (now < t->created + t->timeout) return false;
      expired.push_back(t);
      return true;
    });
    // Their Submit thread is inside a prepare call: decide for it, as its Decide would have.
    const auto real_now = std::chrono::steady_clock::now();
    for (const TxnPtr& t : inline_prepares_) {
      if (t->state != TxnState::kPreparing || real_now < t->prepare_deadline) continue;
      NotePrepareTimeoutLocked(*t);
      prepare_timeouts.emplace_back(t, t->fail_reason);
    }
    TrimIdempotencyLocked();
  }
  for (const TxnPtr& t : expired) {
    DecideAbort(t,
                "open transaction timed out after " + std::to_string(t->timeout.count()) + " ms");
  }
  for (const auto& [t, why] : prepare_timeouts) DecideAbort(t, why);
}

void Engine::TrimIdempotencyLocked() {
  const Clock::WallTime cutoff = clock_.WallNow() - cfg_.idempotency_horizon;
  // Each entry is looked at once per call: a live one goes to the back for a later call.
  for (std::size_t n = idem_order_.size(); n > 0 && !idem_order_.empty(); --n) {
    const bool over_cap = idem_.size() > cfg_.max_idempotency_keys;
    if (idem_order_.front().first > cutoff && !over_cap) break;
    auto [created, key] = std::move(idem_order_.front());
    idem_order_.pop_front();
    auto it = idem_.find(key);
    if (it == idem_.end() || it->second.created != created) continue;  // replaced or gone
    auto t = txns_.find(it->second.gid);
    if (t != txns_.end() && !IsFinal(t->second->state)) {
      idem_order_.emplace_back(created, std::move(key));
      continue;
    }
    idem_.erase(it);
    if (created <= cutoff) continue;
    // Evicted before its horizon: the first time and every 100,000th, say how far back keys
    // are still remembered.
    if (metrics_.idempotency_evicted++ % 100'000 == 0) {
      const auto window = std::chrono::duration_cast<std::chrono::seconds>(
          clock_.WallNow() - (idem_order_.empty() ? created : idem_order_.front().first));
      log::Warn("idempotency keys evicted before their horizon (max_idempotency_keys)",
                {{"max_idempotency_keys", std::to_string(cfg_.max_idempotency_keys)},
                 {"evicted", std::to_string(metrics_.idempotency_evicted)},
                 {"window_seconds", std::to_string(window.count())}});
    }
  }
}

Status Engine::RunOrphanScan() {
  using Key = std::pair<std::string, participant::BranchId>;
  std::set<Key> seen;
  std::vector<Key> to_abort, to_commit;
  Status first_error;
  for (const auto& [name, p] : parts_) {
    if (Stopped()) return Unavailable("coordinator stopped");
    Result<std::vector<participant::InDoubtBranch>> r =
        CallParticipant([&] { return p->InDoubt(cfg_.coordinator_id); });
    if (!r.ok()) {
      if (first_error.ok()) first_error = r.status().Annotate("in-doubt scan of " + name);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const participant::InDoubtBranch& ib : *r) {
      if (ib.id.coordinator != cfg_.coordinator_id) continue;
      Key key{name, ib.id};
      auto t = txns_.find(ib.id.gid);
      if (t != txns_.end() && t->second->state == TxnState::kCommitted) {
        to_commit.push_back(key);  // committed is never aborted
        continue;
      }
      if (t != txns_.end() && t->second->state != TxnState::kAborted) continue;  // in progress
      seen.insert(key);
      auto s = orphan_seen_.find(key);
      if (s == orphan_seen_.end()) {
        orphan_seen_.emplace(key, clock_.Now());
      } else if (clock_.Now() - s->second >= cfg_.orphan_min_age) {
        to_abort.push_back(key);
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = orphan_seen_.begin(); it != orphan_seen_.end();) {
      it = seen.count(it->first) ? std::next(it) : orphan_seen_.erase(it);
    }
  }
  for (const Key& k : to_commit) {
    Status s = CallParticipant([&] { return parts_.at(k.first)->Commit(k.second); });
    CountCall(k.first, s.ok() ? "orphan.recommit.ok" : "orphan.recommit.error");
  }
  for (const Key& k : to_abort) {
    Status s = CallParticipant([&] { return parts_.at(k.first)->Abort(k.second); });
    CountCall(k.first, s.ok() ? "orphan.abort.ok" : "orphan.abort.error");
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      orphan_seen_.erase(k);
    } else if (first_error.ok()) {
      first_error = s.Annotate("orphan abort of " + participant::ToString(k.second));
    }
  }
  return first_error;
}

}  // namespace txcoord::coordinator
