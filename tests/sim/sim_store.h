#pragma once
// A simulated participant store: one record per branch id, following the participant contract
// (participants/include/txcoord/participant/participant.h): idempotent, order-tolerant (abort
// before prepare -> the late prepare votes no), commit of an aborted branch = Conflict, abort of
// a committed one = Conflict. Counts how often each branch's effect was applied.
#include <cstdint>
#include <map>
#include <string>

namespace txcoord::sim {

enum class StoreState : std::uint8_t { kNone, kPrepared, kCommitted, kAborted };

struct StoreBranch {
  StoreState state = StoreState::kNone;
  int applied = 0;  // times the business effect was applied (must stay <= 1)
};

enum class StoreReply : std::uint8_t { kYes, kNo, kOk, kConflict };

class SimStore {
 public:
  // refuse: the business check fails (vote no, nothing held).
  StoreReply Prepare(const std::string& branch, bool refuse) {
    StoreBranch& b = branches_[branch];
    switch (b.state) {
      case StoreState::kNone:
        if (refuse) {
          b.state = StoreState::kAborted;
          return StoreReply::kNo;
        }
        b.state = StoreState::kPrepared;
        return StoreReply::kYes;
      case StoreState::kPrepared:
      case StoreState::kCommitted:
        return StoreReply::kYes;  // duplicate
      case StoreState::kAborted:
        return StoreReply::kNo;  // anti-hanging
    }
    return StoreReply::kNo;
  }
  StoreReply Commit(const std::string& branch) {
    StoreBranch& b = branches_[branch];
    if (b.state == StoreState::kCommitted) return StoreReply::kOk;
    if (b.state != StoreState::kPrepared) return StoreReply::kConflict;
    b.state = StoreState::kCommitted;
    ++b.applied;
    return StoreReply::kOk;
  }
  StoreReply Abort(const std::string& branch) {
    StoreBranch& b = branches_[branch];
    if (b.state == StoreState::kCommitted) return StoreReply::kConflict;
    b.state = StoreState::kAborted;
    return StoreReply::kOk;
  }
  const StoreBranch* Find(const std::string& branch) const {
    auto it = branches_.find(branch);
    return it == branches_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, StoreBranch> branches_;
};

}  // namespace txcoord::sim
