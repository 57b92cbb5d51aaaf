#pragma once
// Internal: what this process learnt when it staged a prepared branch — the hash tag the branch
// is bound to and the data keys it staged — so Commit and Abort need neither the index GET nor
// the read of the barrier's `keys` field. Only a cache: a miss (another process prepared the
// branch, a restart, an eviction) falls back to reading both from Redis.
//
// Why a stale entry is harmless: both facts are immutable while the branch's records live (the
// index binding is first-wins and only gets a TTL once the branch is finished; the barrier's
// `keys` field is written once, when the branch is staged, and deleted when it finishes). An entry
// that outlives its branch (finished by another process) names a finished barrier, and the
// commit/abort scripts answer from the barrier's state exactly as after the fallback reads. Entries
// older than `max_age` (the records' TTL) count as misses, so an entry never outlives the records.
//
// Bounded: beyond `capacity` entries the oldest is evicted. Thread-safety: every method is safe
// from any thread.
#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace txcoord::redis::internal {

struct StagedBranch {
  std::string tag;
  std::vector<std::string> keys;  // the data keys the prepare script staged (KEYS of commit/abort)
};

class BranchCache {
 public:
  using Time = std::chrono::steady_clock::time_point;

  // max_age 0 = entries never age out (the records never expire either).
  BranchCache(std::size_t capacity, std::chrono::seconds max_age)
      : capacity_(capacity), max_age_(max_age) {}

  void Put(const std::string& name, StagedBranch branch, Time now) {
    std::lock_guard lock(mu_);
    if (capacity_ == 0) return;
    if (auto it = map_.find(name); it != map_.end()) {
      order_.erase(it->second.pos);
      map_.erase(it);
    }
    order_.push_back(name);
    map_.emplace(name, Entry{std::move(branch), now, std::prev(order_.end())});
    while (map_.size() > capacity_) {
      map_.erase(order_.front());
      order_.pop_front();
    }
  }

  std::optional<StagedBranch> Get(const std::string& name, Time now) const {
    std::lock_guard lock(mu_);
    const auto it = map_.find(name);
    if (it == map_.end()) return std::nullopt;
    if (max_age_.count() > 0 && now - it->second.at > max_age_) return std::nullopt;
    return it->second.branch;
  }

  void Drop(const std::string& name) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(name); it != map_.end()) {
      order_.erase(it->second.pos);
      map_.erase(it);
    }
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  struct Entry {
    StagedBranch branch;
    Time at;
    std::list<std::string>::iterator pos;  // in order_
  };
  const std::size_t capacity_;
  const std::chrono::seconds max_age_;
  mutable std::mutex mu_;
  std::list<std::string> order_;  // oldest first
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace txcoord::redis::internal
