// Saga calls of PostgresParticipant: local transactions guarded by the barrier table.
//   Execute:    (op 'action', state 'done') + business SQL, one local transaction: one pipeline
//               (BEGIN, barrier, a declared action's statements), then COMMIT.
//               A business refusal is recorded as (action, 'refused', reason) in its own
//               transaction, so a retried Execute gets the same refusal.
//   Compensate: (op 'action', state 'fenced') first — inserted means the action never ran:
//               null compensation, and the late Execute is refused. Otherwise
//               (op 'compensate', 'done') + compensation SQL, one local transaction.
#include "pg.h"
#include "pool.h"
#include "txcoord/core/fault.h"
#include "txcoord/postgres/participant.h"

namespace txcoord::postgres {

using internal::Exec;
using internal::Failure;
using participant::BranchCall;
using participant::ExecuteResult;
using participant::Outcome;

namespace {

Status CommitLocal(PGconn* c, std::string_view what) {
  if (Status f = TXC_FAULT("pg.saga.before_commit"); !f.ok()) {
    internal::RollbackQuietly(c);
    return f;
  }
  auto o = Exec(c, "COMMIT");
  if (o.failure == Failure::kConnection) {
    return UnknownOutcome(std::string(what) + ": connection lost during COMMIT (" + o.message +
                          "); retry the call");
  }
  if (!o.ok()) return internal::NothingApplied(o, what);
  return Status::Ok();
}

// Lock/serialization/statement timeouts roll the local transaction back: retry the call.
Status SagaError(const Status& error, bool contention) {
  return contention ? Unavailable(error.message()) : error;
}

}  // namespace

Result<ExecuteResult> PostgresParticipant::Execute(const BranchCall& call) {
  TXC_RETURN_IF_ERROR(ValidateCall(call));
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  PGconn* c = lease.get();
  auto answer_from_barrier = [&]() -> Result<ExecuteResult> {
    TXC_ASSIGN_OR_RETURN(auto row, ReadBarrier(c, call.id, "action"));
    if (!row) return Unavailable("postgres: barrier row vanished; retry Execute");
    if (row->state == "done") return ExecuteResult{Outcome::kDone, ""};
    if (row->state == "refused") return ExecuteResult{Outcome::kRefused, row->reason};
    return ExecuteResult{Outcome::kRefused,
                         "branch " + participant::ToString(call.id) + " was already compensated"};
  };

  TXC_ASSIGN_OR_RETURN(std::optional<Verdict> staged,
                       BeginWithBarrier(lease, call, BarrierOp::kExecute, "postgres: execute"));
  if (!staged) return answer_from_barrier();  // duplicate, refused before, or fenced
  const Verdict& v = *staged;
  if (v.refusal || !v.error.ok()) internal::RollbackQuietly(c);
  if (!v.error.ok()) return SagaError(v.error, v.contention);
  if (v.refusal) {
    TXC_ASSIGN_OR_RETURN(bool recorded, InsertBarrier(c, call.id, "action", "refused", *v.refusal));
    if (!recorded) return answer_from_barrier();  // a Compensate fenced it meanwhile
    return ExecuteResult{Outcome::kRefused, *v.refusal};
  }
  TXC_RETURN_IF_ERROR(CommitLocal(c, "postgres: execute"));
  return ExecuteResult{Outcome::kDone, ""};
}

Status PostgresParticipant::Compensate(const BranchCall& call) {
  TXC_RETURN_IF_ERROR(ValidateCall(call));
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  PGconn* c = lease.get();
  auto begin = Exec(c, "BEGIN");
  if (!begin.ok()) return internal::NothingApplied(begin, "postgres: compensate");
  auto fenced = InsertBarrier(c, call.id, "action", "fenced");
  if (!fenced.ok()) {
    internal::RollbackQuietly(c);
    return fenced.status();
  }
  if (*fenced) return CommitLocal(c, "postgres: compensate");  // null compensation
  auto action = ReadBarrier(c, call.id, "action");
  if (!action.ok() || !*action || (*action)->state != "done") {
    internal::RollbackQuietly(c);
    if (!action.ok()) return action.status();
    if (!*action) return Unavailable("postgres: barrier row vanished; retry Compensate");
    return Status::Ok();  // the action was refused or never ran: nothing to undo
  }
  auto first = InsertBarrier(c, call.id, "compensate", "done");
  if (!first.ok() || !*first) {
    internal::RollbackQuietly(c);
    return first.status();  // ok when it is a duplicate delivery
  }
  Verdict v = RunAction(c, call);
  if (v.refusal || !v.error.ok()) internal::RollbackQuietly(c);
  if (!v.error.ok()) return SagaError(v.error, v.contention);
  if (v.refusal) {
    return FailedPrecondition("postgres: compensation of " + participant::ToString(call.id) +
                              " refused by the store (" + *v.refusal +
                              "); needs a person or a retry once the data allows it");
  }
  return CommitLocal(c, "postgres: compensate");
}

}  // namespace txcoord::postgres
