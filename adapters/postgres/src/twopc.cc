// 2PC calls of PostgresParticipant. The barrier row (op 'prepare', state 'prepared') is inserted
// inside the transaction that gets prepared, so it is visible to others iff that transaction
// committed; Abort of an unknown branch leaves a fence row (state 'aborted') so a late Prepare
// finds the key taken and votes no. See docs/adapters-postgres.md.
#include "pg.h"
#include "pool.h"
#include "txcoord/core/fault.h"
#include "txcoord/postgres/participant.h"

namespace txcoord::postgres {

using internal::Exec;
using internal::Failure;
using internal::Literal;
using participant::BranchCall;
using participant::BranchId;
using participant::PrepareResult;
using participant::Vote;

namespace {

PrepareResult No(std::string reason) {
  return {Vote::kNo, std::move(reason)};
}
PrepareResult Yes() {
  return {Vote::kYes, ""};
}

constexpr const char* kNoSuchPrepared = "42704";

}  // namespace

// Two round trips: (1) one pipeline — BEGIN, the guarded barrier insert, and a declared action's
// statements — then (2) PREPARE TRANSACTION. A C++ action runs its own statements in between.
Result<PrepareResult> PostgresParticipant::Prepare(const BranchCall& call) {
  TXC_RETURN_IF_ERROR(ValidateCall(call));
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  PGconn* c = lease.get();
  const std::string name = participant::PreparedName(call.id);
  TXC_ASSIGN_OR_RETURN(std::optional<Verdict> staged,
                       BeginWithBarrier(lease, call, BarrierOp::kPrepare, "postgres: prepare"));
  if (!staged) return PrepareTaken(c, call.id);  // a duplicate or a fenced branch
  const Verdict& v = *staged;
  if (v.refusal || !v.error.ok()) internal::RollbackQuietly(c);
  if (v.refusal) return No(*v.refusal);
  if (!v.error.ok()) {
    if (v.contention) return No("retry the transaction: " + v.error.message());
    return v.error;
  }
  if (Status f = TXC_FAULT("pg.prepare.before_prepare_transaction"); !f.ok()) {
    internal::RollbackQuietly(c);
    return f;
  }
  auto prep = Exec(c, "PREPARE TRANSACTION " + Literal(name));
  if (prep.failure == Failure::kConnection) {
    return UnknownOutcome("postgres: connection lost during PREPARE TRANSACTION " + name + " (" +
                          prep.message + "); retry Prepare");
  }
  if (!prep.ok() || PQtransactionStatus(c) != PQTRANS_IDLE) {
    internal::RollbackQuietly(c);
    return No("PREPARE TRANSACTION failed: " + prep.message);
  }
  return Yes();
}

Result<PrepareResult> PostgresParticipant::PrepareTaken(PGconn* c, const BranchId& id) {
  const std::string name = participant::PreparedName(id);
  // A duplicate delivery finds its transaction already prepared.
  auto listed = Exec(c,
                     "SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = "
                     "current_database()",
                     {name});
  if (!listed.ok()) return internal::NothingApplied(listed, "postgres: prepare");
  if (!listed.rows.empty()) return Yes();
  TXC_ASSIGN_OR_RETURN(auto row, ReadBarrier(c, id, "prepare"));
  if (!row) {
    return Unavailable("postgres: branch " + participant::ToString(id) +
                       " is held by a call in flight; retry");
  }
  if (row->state == "prepared") return Yes();  // committed already: a very late duplicate
  return No("branch " + participant::ToString(id) +
            " was already aborted (late prepare fenced out)");
}

Status PostgresParticipant::Commit(const BranchId& id) {
  TXC_RETURN_IF_ERROR(participant::Validate(id));
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  PGconn* c = lease.get();
  const std::string name = participant::PreparedName(id);
  TXC_RETURN_IF_ERROR(TXC_FAULT("pg.commit.before_commit_prepared"));
  auto o = Exec(c, "COMMIT PREPARED " + Literal(name));
  if (o.ok()) return TXC_FAULT("pg.commit.after_commit_prepared");
  if (o.sqlstate == kNoSuchPrepared) {
    TXC_ASSIGN_OR_RETURN(auto row, ReadBarrier(c, id, "prepare"));
    if (row && row->state == "prepared") return Status::Ok();  // committed earlier
    return Conflict("postgres: cannot commit " + participant::ToString(id) + ": branch was " +
                    (row ? "aborted" : "never prepared"));
  }
  if (o.failure == Failure::kConnection || o.failure == Failure::kContention) {
    return UnknownOutcome("postgres: COMMIT PREPARED " + name + " may have been applied (" +
                          o.message + "); retry Commit");
  }
  return Unavailable("postgres: COMMIT PREPARED " + name + ": " + o.message);
}

Status PostgresParticipant::Abort(const BranchId& id) {
  TXC_RETURN_IF_ERROR(participant::Validate(id));
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  PGconn* c = lease.get();
  const std::string name = participant::PreparedName(id);
  auto o = Exec(c, "ROLLBACK PREPARED " + Literal(name));
  if (o.ok()) return Status::Ok();
  if (o.sqlstate != kNoSuchPrepared) {
    if (o.failure == Failure::kConnection || o.failure == Failure::kContention) {
      return UnknownOutcome("postgres: ROLLBACK PREPARED " + name + " may have been applied (" +
                            o.message + "); retry Abort");
    }
    return Unavailable("postgres: ROLLBACK PREPARED " + name + ": " + o.message);
  }
  // Not prepared: fence the key (autocommit) so a late Prepare votes no. A prepare in flight
  // holds the key: lock_timeout turns the wait into Unavailable, and the retry finds it
  // prepared and rolls it back.
  TXC_ASSIGN_OR_RETURN(bool fenced, InsertBarrier(c, id, "prepare", "aborted"));
  if (fenced) return Status::Ok();
  TXC_ASSIGN_OR_RETURN(auto row, ReadBarrier(c, id, "prepare"));
  if (!row) {
    return Unavailable("postgres: branch " + participant::ToString(id) +
                       " is held by a call in flight; retry");
  }
  if (row->state == "aborted") return Status::Ok();
  return Conflict("postgres: cannot abort " + participant::ToString(id) +
                  ": branch was already committed");
}

}  // namespace txcoord::postgres
