// One-shot 2PC: validation, admission (idempotency, limits), forced BEGIN, parallel prepares,
// the decision.
#include <cstdio>

#include "engine.h"
#include "txcoord/core/fault.h"

namespace txcoord::coordinator {

using internal::v1::Decision;
using internal::v1::Record;

Status Engine::ValidateCommon(const std::string& gid, const std::string& key,
                              std::optional<std::chrono::milliseconds> timeout) const {
  if (!gid.empty()) {
    Status s = participant::ValidateGid(gid);
    if (!s.ok()) return InvalidArgument("bad gid: " + s.message());
  }
  if (key.size() > kMaxIdempotencyKeyLen) {
    return InvalidArgument("idempotency key is " + std::to_string(key.size()) +
                           " bytes; the limit is " + std::to_string(kMaxIdempotencyKeyLen));
  }
  if (timeout && (timeout->count() <= 0 || *timeout > cfg_.max_timeout)) {
    return InvalidArgument("timeout_ms must be in 1.." + std::to_string(cfg_.max_timeout.count()));
  }
  return Status::Ok();
}

template <typename Request>
Result<Engine::TxnPtr> Engine::NewTxn(const Request& r, std::size_t count, std::string_view what,
                                      std::string_view parts) const {
  TXC_RETURN_IF_ERROR(ValidateCommon(r.gid, r.idempotency_key, r.timeout));
  if (count == 0) return InvalidArgument(std::string(what) + " has no " + std::string(parts));
  if (count > cfg_.max_branches) {
    return InvalidArgument("too many " + std::string(parts) + ": " + std::to_string(count) +
                           " > max " + std::to_string(cfg_.max_branches));
  }
  auto txn = std::make_shared<Txn>();
  txn->gid = r.gid;
  txn->timeout = r.timeout.value_or(cfg_.default_timeout);
  txn->idem_key = r.idempotency_key;
  txn->request_hash = r.request_hash.empty() ? internal::HashRequest(r) : r.request_hash;
  return txn;
}
template Result<Engine::TxnPtr> Engine::NewTxn(const SagaRequest&, std::size_t, std::string_view,
                                               std::string_view) const;

Result<std::string> Engine::Incarnate(const std::string& label, char kind, std::size_t i,
                                      std::uint32_t incarnation) {
  std::string base = label.empty() ? kind + std::to_string(i) : label;
  if (Status s = participant::ValidateBranch(base); !s.ok()) {
    return InvalidArgument("bad branch id: " + s.message());
  }
  if (base.size() > kMaxBranchLabelLen) {
    return InvalidArgument("branch id '" + base + "' is longer than " +
                           std::to_string(kMaxBranchLabelLen) +
                           " bytes (the coordinator appends an incarnation to it)");
  }
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, ".%08x", static_cast<unsigned>(incarnation));
  return base + suffix;
}

Result<Engine::TxnPtr> Engine::BuildTxn(const TxnRequest& r) const {
  TXC_ASSIGN_OR_RETURN(TxnPtr txn, NewTxn(r, r.branches.size(), "transaction", "branches"));
  const auto incarnation = static_cast<std::uint32_t>(random_.Next());
  for (std::size_t i = 0; i < r.branches.size(); ++i) {
    const BranchRequest& b = r.branches[i];
    Branch out;
    out.participant = b.participant;
    out.action = b.action;
    out.payload = b.payload;
    const std::string where = "branch " + std::to_string(i) + " (" + b.participant + ")";
    Result<std::string> id = Incarnate(b.branch, 'b', i, incarnation);
    if (!id.ok()) return InvalidArgument(where + ": " + id.status().message());
    out.branch = std::move(*id);
    TXC_RETURN_IF_ERROR(CheckBranch(*txn, out, where));
    txn->branches.push_back(std::move(out));
  }
  return txn;
}

std::optional<SubmitReply> Engine::MatchIdempotencyLocked(const std::string& key,
                                                          const std::string& hash,
                                                          Status* mismatch) const {
  auto it = idem_.find(key);
  if (key.empty() || it == idem_.end()) return std::nullopt;
  const IdemRecord& rec = it->second;
  if (rec.hash != hash) {
    *mismatch = Conflict(std::string(kIdempotencyMismatch) + ": key '" + key +
                         "' was first used for transaction " + rec.gid);
    return std::nullopt;
  }
  SubmitReply reply;
  reply.match = IdempotencyMatch::kReplayed;
  if (auto t = txns_.find(rec.gid); t != txns_.end()) {
    reply.txn = ViewLocked(*t->second);
    const TxnState s = t->second->state;
    if (s == TxnState::kPreparing || s == TxnState::kRunning || s == TxnState::kCompensating) {
      reply.match = IdempotencyMatch::kInProgress;
    }
  } else {
    reply.txn.gid = rec.gid;
    reply.txn.state = rec.final_state == "committed"     ? TxnState::kCommitted
                      : rec.final_state == "compensated" ? TxnState::kCompensated
                                                         : TxnState::kAborted;
    if (rec.final_state == "compensated") reply.txn.mode = "saga";
    reply.txn.created = reply.txn.updated = rec.created;
  }
  return reply;
}

// Under mu_: idempotency, duplicate gid, limits; then the transaction becomes visible.
Result<std::optional<SubmitReply>> Engine::AdmitLocked(const TxnPtr& txn) {
  Status mismatch;
  if (auto r = MatchIdempotencyLocked(txn->idem_key, txn->request_hash, &mismatch)) return r;
  if (!mismatch.ok()) return mismatch;
  if (txn->gid.empty()) {
    txn->gid = NewGidLocked();
  } else if (txns_.count(txn->gid) != 0) {
    return Conflict("transaction " + txn->gid + " already exists");
  }
  if (in_flight_ >= cfg_.max_in_flight) {
    return ResourceExhausted("too many transactions in flight (max " +
                             std::to_string(cfg_.max_in_flight) + "); retry later");
  }
  txn->created = txn->updated = clock_.WallNow();
  txn->started = clock_.Now();
  txns_[txn->gid] = txn;
  ++in_flight_;
  AddLiveLocked(*txn);
  if (txn->open) open_active_.push_back(txn);
  if (!txn->idem_key.empty()) {
    idem_[txn->idem_key] = IdemRecord{txn->request_hash, txn->gid, txn->created, ""};
    idem_order_.emplace_back(txn->created, txn->idem_key);
    TouchIdempotencyLocked(txn->idem_key);
    if (idem_.size() > cfg_.max_idempotency_keys) TrimIdempotencyLocked();
  }
  return std::optional<SubmitReply>();
}

internal::v1::Begin Engine::BeginOf(const Txn& t) {
  internal::v1::Begin b;
  b.set_gid(t.gid);
  b.set_mode(t.saga ? "saga" : "2pc");
  b.set_created_unix_ms(internal::ToUnixMs(t.created));
  b.set_timeout_ms(t.timeout.count());
  b.set_idempotency_key(t.idem_key);
  b.set_request_hash(t.request_hash);
  b.set_open(t.open);
  if (!t.open) {
    for (const Branch& br : t.branches) {
      internal::v1::Branch* p = b.add_branches();
      *p = internal::ToProto(BranchRequest{br.participant, br.action, br.payload, br.branch});
      if (t.saga) {
        p->set_compensation_action(br.comp_action);
        for (const auto& [k, v] : br.comp_payload) (*p->mutable_compensation_payload())[k] = v;
        p->set_group(br.group);
      }
    }
  }
  return b;
}

Status Engine::CheckBranch(const Txn& txn, const Branch& branch, const std::string& where) const {
  auto p = parts_.find(branch.participant);
  if (p == parts_.end()) return InvalidArgument(where + ": unknown participant");
  if (Status s = participant::ValidateBranch(branch.branch); !s.ok()) {
    return InvalidArgument(where + ": bad branch id: " + s.message());
  }
  for (const Branch& prev : txn.branches) {
    if (prev.branch == branch.branch) return InvalidArgument(where + ": duplicate branch id");
  }
  if (Status s =
          CallParticipant([&] { return p->second->Validate(branch.action, branch.payload); });
      !s.ok()) {
    return InvalidArgument(where + ": " + s.message());
  }
  return Status::Ok();
}

Result<std::optional<SubmitReply>> Engine::AdmitAndBegin(const TxnPtr& txn, const char* fault_point,
                                                         std::string_view after_crash) {
  Record rec;
  std::optional<SubmitReply> early;
  Status s = AppendForced(rec, [&]() -> Result<bool> {
    Result<std::optional<SubmitReply>> admitted = AdmitLocked(txn);
    if (!admitted.ok()) {
      ++metrics_.rejected;
      return admitted.status();
    }
    if (admitted->has_value()) {
      early = std::move(**admitted);
      return false;
    }
    *rec.mutable_begin() = BeginOf(*txn);
    NoteLocked(*txn, rec);
    return true;
  });
  if (!s.ok()) return s;
  if (early) return early;
  if (!Fault(fault_point)) {
    return Unavailable("coordinator stopped after BEGIN of " + txn->gid + "; " +
                       std::string(after_crash));
  }
  return std::optional<SubmitReply>();
}

Result<Engine::TxnPtr> Engine::CountRejected(Result<TxnPtr> built) {
  if (!built.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++metrics_.rejected;
  }
  return built;
}

Result<SubmitReply> Engine::Submit(const TxnRequest& request) {
  TXC_ASSIGN_OR_RETURN(TxnPtr txn, CountRejected(BuildTxn(request)));
  TXC_ASSIGN_OR_RETURN(std::optional<SubmitReply> early,
                       AdmitAndBegin(txn, "coordinator.after_begin_durable", "recovery aborts it"));
  if (early) return *early;
  StartPrepares(txn);
  return Decide(txn, request.caller_waits_phase2);
}

void Engine::StartPrepares(const TxnPtr& txn) {
  // Only with the tick running: it enforces the deadline while this thread is in the call.
  const bool here = cfg_.tick.count() > 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    txn->prepare_deadline = std::chrono::steady_clock::now() + txn->timeout;
    for (Branch& b : txn->branches) b.state = BranchState::kPreparing;
    if (here) inline_prepares_.push_back(txn);  // until Decide
  }
  // The pool gets its branches first, so they run while this thread makes its own calls.
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < txn->branches.size(); ++i) {
    if (here && CallsHere(txn->branches[i].participant, i + 1 == txn->branches.size())) {
      mine.push_back(i);
    } else {
      SendPrepare(txn, i);
    }
  }
  for (std::size_t k = 0; k < mine.size(); ++k) {
    const std::size_t i = mine[k];
    if (k > 0) {
      // A refusal, a failure or an abort since: the remaining calls would be wasted (the
      // abort reaches their branches anyway).
      std::lock_guard<std::mutex> lock(mu_);
      if (txn->state != TxnState::kPreparing || txn->prepare_failed) return;
    }
    internal::ParticipantChannel* ch = ChannelFor(txn->branches[i].participant);
    if (!ch->TryRunHere([&] { RunPrepare(txn, i); })) SendPrepare(txn, i);
  }
}

bool Engine::CallsHere(const std::string& participant, bool last) {
  if (last) return true;
  internal::ParticipantChannel* ch = ChannelFor(participant);
  return ch != nullptr && ch->Quick();
}

void Engine::SendPrepare(const TxnPtr& txn, std::size_t i) {
  internal::ParticipantChannel* ch = ChannelFor(txn->branches[i].participant);
  if (ch->TrySubmit([this, txn, i] { RunPrepare(txn, i); })) return;
  std::lock_guard<std::mutex> lock(mu_);
  RecordPrepareLocked(*txn, i, BranchState::kFailed, "participant queue full");
}

void Engine::RunPrepare(const TxnPtr& txn, std::size_t i) {
  if (Stopped()) return;
  participant::BranchCall call;
  std::string name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Branch& b = txn->branches[i];
    if (txn->state != TxnState::kPreparing || b.state != BranchState::kPreparing) return;
    call = {participant::BranchId{cfg_.coordinator_id, txn->gid, b.branch}, b.action, b.payload};
    name = b.participant;
    ++b.attempts;
  }
  internal::ParticipantChannel* ch = ChannelFor(name);
  if (!ch->breaker().Allow()) {
    CountCall(name, "prepare.fast_fail");
    std::lock_guard<std::mutex> lock(mu_);
    RecordPrepareLocked(*txn, i, BranchState::kFailed, "circuit breaker open for " + name);
    return;
  }
  Result<participant::PrepareResult> r =
      CallParticipant([&] { return ch->participant().Prepare(call); });
  ch->breaker().OnResult(r.status());
  const bool yes = r.ok() && r->vote == participant::Vote::kYes;
  CountCall(name, r.ok() ? (yes ? "prepare.yes" : "prepare.no") : "prepare.error");
  if (!Fault("coordinator.after_prepare_reply")) return;
  std::lock_guard<std::mutex> lock(mu_);
  Branch& b = txn->branches[i];
  if (!r.ok()) {
    b.last_error = r.status().ToString();
    const Reaction re = r.status().reaction();
    const auto delay = prepare_backoff_.Delay(b.attempts);
    if ((re == Reaction::kRetryCall || re == Reaction::kResolveUnknown) &&
        std::chrono::steady_clock::now() + delay < txn->prepare_deadline) {
      After(delay, [this, txn, i] { SendPrepare(txn, i); });
      return;
    }
    RecordPrepareLocked(*txn, i, BranchState::kFailed, "prepare failed: " + b.last_error);
    return;
  }
  RecordPrepareLocked(*txn, i, yes ? BranchState::kPrepared : BranchState::kRefused,
                      yes ? "" : "voted no: " + r->reason);
}

void Engine::RecordPrepareLocked(Txn& t, std::size_t i, BranchState result,
                                 const std::string& why) {
  Branch& b = t.branches[i];
  if (t.state != TxnState::kPreparing || b.state != BranchState::kPreparing) return;
  b.state = result;
  if (result != BranchState::kPrepared) {
    if (b.last_error.empty() || result == BranchState::kRefused) b.last_error = why;
    t.prepare_failed = true;
    if (t.fail_reason.empty()) t.fail_reason = "branch " + b.branch + " " + why;
  }
  ++t.replies;
  t.updated = clock_.WallNow();
  // Decide waits for the last reply or the first failure: no earlier wake-up.
  if (t.prepare_failed || t.replies == t.branches.size()) t.cv.notify_all();
}

Result<SubmitReply> Engine::Decide(const TxnPtr& txn, bool here) {
  bool all_yes = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    std::erase(inline_prepares_, txn);
    txn->cv.wait_until(lock, txn->prepare_deadline, [&] {
      return Stopped() || txn->prepare_failed || txn->replies == txn->branches.size();
    });
    if (Stopped()) {
      return Unavailable("coordinator stopped while preparing " + txn->gid +
                         "; recovery aborts it");
    }
    all_yes = !txn->prepare_failed && txn->replies == txn->branches.size();
    if (!all_yes) NotePrepareTimeoutLocked(*txn);
  }
  SubmitReply reply;
  if (all_yes) {
    Result<TxnView> committed = DecideCommit(txn, nullptr, here);
    if (committed.ok()) {
      reply.txn = *committed;
      return reply;
    }
    std::unique_lock<std::mutex> lock(mu_);
    // An operator's resolve decided first (txctl resolve): answer with that outcome, once
    // durable.
    if (committed.status().code() == Code::kConflict && !WaitDecidedLocked(lock, *txn)) {
      return Unavailable("coordinator stopped while deciding " + txn->gid);
    }
    if (committed.status().code() != Code::kConflict || txn->state == TxnState::kPreparing) {
      return committed.status();
    }
    reply.txn = ViewLocked(*txn);
    return reply;
  }
  // Not on this thread: an abort follows a refusal, an error or a timeout — the participant may
  // well be the slow one.
  const bool aborted = DecideAbort(txn, txn->fail_reason);  // false only if already decided
  std::unique_lock<std::mutex> lock(mu_);
  // Decided otherwise (an operator's resolve): its outcome, once durable.
  if (!aborted && !WaitDecidedLocked(lock, *txn)) {
    return Unavailable("coordinator stopped while deciding " + txn->gid);
  }
  reply.txn = ViewLocked(*txn);
  return reply;
}

void Engine::NotePrepareTimeoutLocked(Txn& t) {
  if (!t.fail_reason.empty()) return;
  t.fail_reason = "prepare timeout after " + std::to_string(t.timeout.count()) + " ms";
  for (Branch& b : t.branches) {
    if (b.state == BranchState::kPreparing) b.last_error = "no prepare reply before timeout";
  }
}

Result<TxnView> Engine::DecideCommit(const TxnPtr& txn, const ResolveRequest* op, bool here) {
  Record rec;
  Decision* d = rec.mutable_decision();
  d->set_gid(txn->gid);
  d->set_outcome(Decision::COMMIT);
  d->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  if (op != nullptr) {
    d->set_reason(op->reason);
    d->set_operator_id(op->operator_id);
  }
  bool attempted = false;
  // Reserve under mu_; the transaction stays preparing/active for everyone until the COMMIT is
  // durable (publish): no commit call, no "committed" answer or view before that.
  auto reserve = [&]() -> Result<bool> {
    if (txn->pending_decision) {
      return Conflict("a decision of transaction " + txn->gid + " is being written");
    }
    if (txn->state != TxnState::kPreparing && txn->state != TxnState::kActive) {
      return Conflict("transaction " + txn->gid + " is already " +
                      std::string(TxnStateName(txn->state)));
    }
    for (const Branch& b : txn->branches) {
      if (b.state == BranchState::kRegistering) {
        return Unavailable("a branch registration of " + txn->gid + " is in flight; retry");
      }
      if (op != nullptr && b.state != BranchState::kPrepared) {
        return Conflict("branch " + b.branch + " (" + b.participant + ") of " + txn->gid + " is " +
                        std::string(BranchStateName(b.state)) +
                        ", not prepared: committing would break atomicity; --force makes it a "
                        "heuristic commit");
      }
    }
    attempted = true;
    txn->pending_decision = *d;
    return true;
  };
  auto publish = [&] {
    txn->pending_decision.reset();
    if (op != nullptr) {
      txn->operator_id = op->operator_id;
      txn->operator_reason = op->reason;
      txn->reason = OperatorReason(true, false, false, op->operator_id, op->reason);
    }
    NoteLocked(*txn, rec);
    txn->state = TxnState::kCommitting;
    txn->updated = clock_.WallNow();
    for (Branch& b : txn->branches) {
      b.state = BranchState::kCommitting;
      b.attempts = 0;
      b.last_error.clear();
    }
    RecordLatencyLocked(*txn);
    txn->cv.notify_all();
  };
  Status s = AppendForced(rec, reserve, publish, "coordinator.commit_decision.before_durable");
  if (!s.ok() && attempted) {
    return UnknownOutcome("commit decision of " + txn->gid + " not durable (" + s.ToString() +
                          "); the coordinator stopped");
  }
  if (!s.ok()) return s;
  if (!Fault("coordinator.after_decision_durable")) {
    return UnknownOutcome("coordinator stopped after the commit decision of " + txn->gid +
                          " was durable; recovery commits it");
  }
  StartPhase2(txn, Phase2Op::kCommit, here);
  std::lock_guard<std::mutex> lock(mu_);
  return ViewLocked(*txn);
}

bool Engine::DecideAbort(const TxnPtr& txn, const std::string& reason) {
  Record rec;
  Decision* d = rec.mutable_decision();
  d->set_gid(txn->gid);
  d->set_outcome(Decision::ABORT);
  d->set_reason(reason);
  d->set_at_unix_ms(internal::ToUnixMs(clock_.WallNow()));
  bool decided = false;
  AppendLazy(rec, [&] {
    if (txn->pending_decision) return false;  // another decision is being written
    if (txn->state != TxnState::kPreparing && txn->state != TxnState::kActive) return false;
    decided = true;
    NoteLocked(*txn, rec);
    MarkAbortingLocked(*txn, reason);
    return true;
  });
  if (decided) StartPhase2(txn, Phase2Op::kAbort);
  return decided;
}

void Engine::MarkAbortingLocked(Txn& t, const std::string& reason) {
  t.state = TxnState::kAborting;
  t.reason = reason;
  t.updated = clock_.WallNow();
  for (Branch& b : t.branches) {
    b.state = BranchState::kAborting;
    b.attempts = 0;
  }
  // A one-shot transaction's Decide() may still wait for prepare replies: wake it.
  t.prepare_failed = true;
  if (t.fail_reason.empty()) t.fail_reason = reason;
  RecordLatencyLocked(t);
  t.cv.notify_all();
}

void Engine::RecordLatencyLocked(const Txn& t) {
  const double ms = std::chrono::duration<double, std::milli>(clock_.Now() - t.started).count();
  std::size_t k = 0;
  while (k < metrics_.latency_bounds_ms.size() && ms > metrics_.latency_bounds_ms[k]) ++k;
  ++metrics_.latency_counts[k];
  metrics_.latency_sum_ms += ms;
}

}  // namespace txcoord::coordinator
