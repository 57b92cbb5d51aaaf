// Read-only views: Get, List, Wait, metrics, names.
#include <algorithm>

#include "engine.h"

namespace txcoord::coordinator {

std::string_view TxnStateName(TxnState s) {
  switch (s) {
    case TxnState::kActive:
      return "active";
    case TxnState::kPreparing:
      return "preparing";
    case TxnState::kCommitting:
      return "committing";
    case TxnState::kCommitted:
      return "committed";
    case TxnState::kAborting:
      return "aborting";
    case TxnState::kAborted:
      return "aborted";
    case TxnState::kRunning:
      return "running";
    case TxnState::kCompensating:
      return "compensating";
    case TxnState::kCompensated:
      return "compensated";
  }
  return "unknown";
}

std::string_view BranchStateName(BranchState s) {
  switch (s) {
    case BranchState::kRegistering:
      return "registering";
    case BranchState::kPending:
      return "pending";
    case BranchState::kPreparing:
      return "preparing";
    case BranchState::kPrepared:
      return "prepared";
    case BranchState::kRefused:
      return "refused";
    case BranchState::kFailed:
      return "failed";
    case BranchState::kCommitting:
      return "committing";
    case BranchState::kCommitted:
      return "committed";
    case BranchState::kAborting:
      return "aborting";
    case BranchState::kAborted:
      return "aborted";
    case BranchState::kExecuting:
      return "executing";
    case BranchState::kDone:
      return "done";
    case BranchState::kCompensating:
      return "compensating";
    case BranchState::kCompensated:
      return "compensated";
    case BranchState::kHeuristic:
      return "heuristic";
  }
  return "unknown";
}

bool IsFinal(TxnState s) {
  return s == TxnState::kCommitted || s == TxnState::kAborted || s == TxnState::kCompensated;
}

bool IsIdempotencyMismatch(const Status& s) {
  return s.code() == Code::kConflict && s.message().rfind(kIdempotencyMismatch, 0) == 0;
}

TxnView Engine::ViewLocked(const Txn& t) const {
  TxnView v;
  v.gid = t.gid;
  v.open = t.open;
  v.mode = t.saga ? "saga" : "2pc";
  v.stuck = t.stuck;
  v.state = t.state;
  v.reason = t.reason;
  v.created = t.created;
  v.updated = t.updated;
  v.heuristic = t.heuristic;
  v.heuristic_mixed = t.heuristic_mixed;
  v.operator_id = t.operator_id;
  for (const Branch& b : t.branches) {
    v.branches.push_back(
        BranchView{b.participant, b.action, b.branch, b.state, b.attempts, b.last_error});
  }
  v.timeline.reserve(t.timeline.size());
  for (const auto& e : t.timeline) v.timeline.push_back(internal::FromProto(e));
  return v;
}

Result<TxnView> Engine::Get(const std::string& gid) const {
  std::lock_guard<std::mutex> lock(mu_);
  TXC_ASSIGN_OR_RETURN(TxnPtr txn, FindLocked(gid));
  return ViewLocked(*txn);
}

std::vector<TxnView> Engine::List(std::optional<TxnState> state, std::size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const Txn*> hits;
  for (const auto& [gid, t] : txns_) {
    if (!state || t->state == *state) hits.push_back(t.get());
  }
  std::sort(hits.begin(), hits.end(), [](const Txn* a, const Txn* b) {
    return a->created != b->created ? a->created > b->created : a->gid > b->gid;
  });
  if (hits.size() > limit) hits.resize(limit);
  std::vector<TxnView> out;
  out.reserve(hits.size());
  for (const Txn* t : hits) out.push_back(ViewLocked(*t));
  return out;
}

Result<TxnView> Engine::Wait(const std::string& gid, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  TXC_ASSIGN_OR_RETURN(TxnPtr txn, FindLocked(gid));  // the pointer survives eviction
  txn->cv.wait_for(lock, timeout, [&] { return IsFinal(txn->state) || Stopped(); });
  return ViewLocked(*txn);
}

Metrics Engine::metrics() const {
  Metrics m;
  {
    std::lock_guard<std::mutex> calls(calls_mu_);
    m.branch_calls = branch_calls_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto calls = std::move(m.branch_calls);
  m = metrics_;
  m.branch_calls = std::move(calls);
  m.in_flight = in_flight_;
  m.idempotency_keys = idem_.size();
  m.stuck = 0;
  for (const auto& [gid, t] : txns_) m.stuck += t->stuck ? 1 : 0;
  for (const auto& [name, ch] : channels_) {
    m.breaker_open[name] = ch->breaker().open();
    m.quick[name] = ch->Quick();
    const internal::ParticipantChannel::Stats s = ch->stats();
    m.call_timing[name] = {s.calls, s.queued_seconds, s.running_seconds};
  }
  return m;
}

}  // namespace txcoord::coordinator
