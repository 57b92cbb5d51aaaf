// Open (XA-style) transactions: BeginOpen, RegisterBranch, client Commit/Abort.
#include "engine.h"
#include "txcoord/core/fault.h"

namespace txcoord::coordinator {

using internal::v1::Record;

Result<SubmitReply> Engine::BeginOpen(const OpenRequest& request) {
  if (Status s = ValidateCommon(request.gid, request.idempotency_key, request.timeout); !s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++metrics_.rejected;
    return s;
  }
  auto txn = std::make_shared<Txn>();
  txn->gid = request.gid;
  txn->open = true;
  txn->state = TxnState::kActive;
  txn->timeout = request.timeout.value_or(cfg_.default_timeout);
  txn->idem_key = request.idempotency_key;
  txn->request_hash =
      request.request_hash.empty() ? internal::HashRequest(request) : request.request_hash;
  TXC_ASSIGN_OR_RETURN(
      std::optional<SubmitReply> early,
      AdmitAndBegin(txn, "coordinator.after_begin_durable", "recovery keeps it open"));
  if (early) return *early;
  std::lock_guard<std::mutex> lock(mu_);
  return SubmitReply{IdempotencyMatch::kNew, ViewLocked(*txn)};
}

Status Engine::RegisterBranch(const std::string& gid, const std::string& participant,
                              const std::string& branch) {
  if (parts_.count(participant) == 0) {
    return InvalidArgument("unknown participant '" + participant + "'");
  }
  if (Status s = participant::ValidateBranch(branch); !s.ok()) {
    return InvalidArgument("bad branch id: " + s.message());
  }
  TxnPtr txn;
  std::size_t index = 0;
  Record rec;
  Status s = AppendForced(rec, [&]() -> Result<bool> {
    TXC_ASSIGN_OR_RETURN(txn, FindLocked(gid));
    if (!txn->open) return FailedPrecondition("transaction " + gid + " is not open (XA-style)");
    if (txn->state != TxnState::kActive) {
      return FailedPrecondition("transaction " + gid + " is " +
                                std::string(TxnStateName(txn->state)) + ", not active");
    }
    for (const Branch& b : txn->branches) {
      if (b.branch != branch) continue;
      if (b.participant != participant) {
        return Conflict("branch " + branch + " is registered by " + b.participant);
      }
      return false;  // already registered: idempotent
    }
    if (txn->branches.size() >= cfg_.max_branches) {
      return ResourceExhausted("transaction " + gid + " has the maximum of " +
                               std::to_string(cfg_.max_branches) + " branches");
    }
    Branch b;
    b.participant = participant;
    b.branch = branch;
    b.state = BranchState::kRegistering;
    txn->branches.push_back(std::move(b));
    index = txn->branches.size() - 1;
    txn->updated = clock_.WallNow();
    auto* r = rec.mutable_register_branch();
    r->set_gid(gid);
    *r->mutable_branch() = internal::ToProto(BranchRequest{participant, "", {}, branch});
    r->set_at_unix_ms(internal::ToUnixMs(txn->updated));
    NoteLocked(*txn, rec);
    return true;
  });
  if (!s.ok() || !rec.has_register_branch()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (txn->branches[index].state == BranchState::kRegistering) {
    txn->branches[index].state = BranchState::kPrepared;
  }
  return Status::Ok();
}

Result<Engine::TxnPtr> Engine::FindClientTxnLocked(const std::string& gid) const {
  TXC_ASSIGN_OR_RETURN(TxnPtr txn, FindLocked(gid));
  if (txn->saga) {
    return FailedPrecondition("transaction " + gid +
                              " is a saga: it commits or compensates by itself");
  }
  return txn;
}

Result<TxnView> Engine::Commit(const std::string& gid) {
  TxnPtr txn;
  {
    std::unique_lock<std::mutex> lock(mu_);
    TXC_ASSIGN_OR_RETURN(txn, FindClientTxnLocked(gid));
    // A decision being written (a concurrent Commit, an operator's resolve): answer its outcome
    // once durable, never before.
    if (!WaitDecidedLocked(lock, *txn)) return Unavailable("coordinator stopped");
    switch (txn->state) {
      case TxnState::kCommitting:
      case TxnState::kCommitted:
        return ViewLocked(*txn);  // idempotent
      case TxnState::kAborting:
      case TxnState::kAborted:
        return Aborted("transaction " + gid + " was aborted: " + txn->reason);
      case TxnState::kPreparing:
        return FailedPrecondition("transaction " + gid + " is a one-shot 2PC transaction");
      case TxnState::kActive:
        break;
      case TxnState::kRunning:
      case TxnState::kCompensating:
      case TxnState::kCompensated:
        return FailedPrecondition("transaction " + gid + " is a saga");
    }
    for (const Branch& b : txn->branches) {
      if (b.state == BranchState::kRegistering) {
        return Unavailable("a branch registration of " + gid + " is in flight; retry");
      }
    }
  }
  return DecideCommit(txn);
}

Result<TxnView> Engine::Abort(const std::string& gid, const std::string& reason) {
  TxnPtr txn;
  {
    std::unique_lock<std::mutex> lock(mu_);
    TXC_ASSIGN_OR_RETURN(txn, FindClientTxnLocked(gid));
    if (!WaitDecidedLocked(lock, *txn)) return Unavailable("coordinator stopped");
    switch (txn->state) {
      case TxnState::kAborting:
      case TxnState::kAborted:
        return ViewLocked(*txn);  // idempotent
      case TxnState::kCommitting:
      case TxnState::kCommitted:
        return Conflict("transaction " + gid + " is committed");
      case TxnState::kPreparing:
        return FailedPrecondition("transaction " + gid +
                                  " is a one-shot 2PC transaction being prepared");
      case TxnState::kActive:
        break;
      case TxnState::kRunning:
      case TxnState::kCompensating:
      case TxnState::kCompensated:
        return FailedPrecondition("transaction " + gid + " is a saga");
    }
    TXC_RETURN_IF_ERROR(CheckReadyLocked());
  }
  const bool decided = DecideAbort(txn, reason.empty() ? "aborted by client" : reason);
  std::unique_lock<std::mutex> lock(mu_);
  if (!decided && !WaitDecidedLocked(lock, *txn)) return Unavailable("coordinator stopped");
  if (!decided && (txn->state == TxnState::kCommitting || txn->state == TxnState::kCommitted)) {
    return Conflict("transaction " + gid + " is committed");
  }
  return ViewLocked(*txn);
}

}  // namespace txcoord::coordinator
