#pragma once
// The PostgreSQL participant: 2PC through PREPARE TRANSACTION, sagas through local commits,
// both guarded by a barrier table (docs/adapters-postgres.md has the schema and the rules).
//
//   TXC_ASSIGN_OR_RETURN(auto cfg, postgres::ParseConfigText(text));
//   TXC_ASSIGN_OR_RETURN(auto pg, postgres::PostgresParticipant::Create(std::move(cfg)));
//   pg->RegisterAction("transfer", {"from", "to", "amount"}, handler);  // optional
//
// Thread-safety: every method is safe to call concurrently; RegisterAction may run at any time
// (handlers are looked up under a lock and copied). Calls block for at most about
// pool_wait + statement_timeout per statement; nothing blocks forever.
// Failures follow participant.h: kUnavailable = nothing applied (retry), kUnknownOutcome =
// COMMIT/ROLLBACK PREPARED or a local COMMIT may have been applied (retry the same call: the
// barrier resolves it), kConflict = protocol violation, kInvalidArgument = bad call.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "txcoord/participant/participant.h"
#include "txcoord/postgres/config.h"

typedef struct pg_conn PGconn;

namespace txcoord::postgres {

namespace internal {
class Lease;
class Pool;
struct Outcome;
}  // namespace internal

// What one statement returned: rows changed (DML) or returned (SELECT), and the rows as text.
struct QueryResult {
  std::int64_t affected = 0;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// The local transaction a C++ action runs in. Valid only during the handler call.
class PgTx {
 public:
  explicit PgTx(PGconn* conn) : conn_(conn) {}
  // Runs `sql` with $1..$n bound to `params` (text). An integrity violation (SQLSTATE 23xxx)
  // comes back as kFailedPrecondition and marks the action refused even if the handler goes on.
  Result<QueryResult> Exec(const std::string& sql, const std::vector<std::string>& params = {});
  const std::optional<std::string>& refusal() const { return refusal_; }

 private:
  PGconn* conn_;
  std::optional<std::string> refusal_;
};

// A C++ action's answer: ok, or a business refusal (vote no / kRefused) with a reason.
struct ActionVerdict {
  std::optional<std::string> refusal;
  static ActionVerdict Ok() { return {}; }
  static ActionVerdict Refuse(std::string reason) { return {std::move(reason)}; }
};
// An error Status from a handler rolls the local transaction back and is returned as is
// (Prepare: contention codes become a vote no). The handler must not COMMIT/ROLLBACK itself.
using ActionHandler = std::function<Result<ActionVerdict>(PgTx& tx, const participant::Payload&)>;

// max_prepared_transactions = `value` is usable; FailedPrecondition with the fix otherwise.
Status CheckMaxPreparedTransactions(int value);

class PostgresParticipant final : public participant::Participant {
 public:
  // Connects, checks max_prepared_transactions, creates the barrier table if missing.
  // kUnavailable when the server is unreachable, kFailedPrecondition on a server unfit for 2PC.
  static Result<std::unique_ptr<PostgresParticipant>> Create(Config config);
  ~PostgresParticipant() override;

  // Adds a C++ action. kInvalidArgument if the name is taken (by config or an earlier call).
  Status RegisterAction(std::string name, std::vector<std::string> required_fields,
                        ActionHandler handler);

  const std::string& name() const override { return config_.name; }
  Status Validate(std::string_view action, const participant::Payload& payload) const override;
  Result<participant::PrepareResult> Prepare(const participant::BranchCall& call) override;
  Status Commit(const participant::BranchId& id) override;
  Status Abort(const participant::BranchId& id) override;
  Result<participant::ExecuteResult> Execute(const participant::BranchCall& call) override;
  Status Compensate(const participant::BranchCall& call) override;
  Result<std::vector<participant::InDoubtBranch>> InDoubt(std::string_view coordinator_id) override;

  // Deletes barrier rows older than `older_than`; returns how many. Rows of prepared,
  // undecided 2PC branches are never visible, hence never deleted.
  Result<std::int64_t> PurgeBarrier(std::chrono::seconds older_than);

  const Config& config() const { return config_; }

 private:
  struct CppAction {
    std::vector<std::string> required;
    ActionHandler handler;
  };
  // The business part of a call, run inside the caller's open transaction.
  struct Verdict {
    std::optional<std::string> refusal;  // business refusal (final)
    Status error;                        // anything else (the transaction must roll back)
    bool contention = false;             // error was a lock/serialization/timeout failure
  };

  explicit PostgresParticipant(Config config);
  Status Start();
  Verdict RunAction(PGconn* conn, const participant::BranchCall& call);
  // The verdict of statement `i` of a declared action from its outcome; nullopt = it passed.
  static std::optional<Verdict> CheckStatement(const std::string& action, std::size_t i,
                                               const Statement& st, const internal::Outcome& o);
  // Which barrier row a call inserts first: Prepare's (`prepare`,`prepared`) or Execute's
  // (`action`,`done`).
  enum class BarrierOp { kPrepare, kExecute };
  // One pipeline (one round trip for a declared action): BEGIN, the guarded barrier insert (fails
  // with 22012 when it inserted no row, so the server skips what follows), then a declared
  // action's statements; a C++ action runs its statements after it. nullopt: the barrier row was
  // taken (a duplicate or a fenced call) or, for kPrepare, held by another transaction beyond a
  // short wait (a prepared duplicate, or one in flight); rolled back either way. Otherwise the
  // action's verdict, the local transaction still open: the caller commits, prepares or rolls
  // back.
  // The barrier insert and declared statements run as statements prepared on the lease's
  // connection (when `prepared_statements` is on).
  Result<std::optional<Verdict>> BeginWithBarrier(internal::Lease& lease,
                                                  const participant::BranchCall& call, BarrierOp op,
                                                  std::string_view what);
  // The answer to a Prepare whose barrier row could not be inserted (already prepared, a row
  // left by an earlier prepare or abort, or a duplicate still in flight). Runs outside a
  // transaction.
  Result<participant::PrepareResult> PrepareTaken(PGconn* conn, const participant::BranchId& id);
  Status ValidateCall(const participant::BranchCall& call) const;
  struct BarrierRow {
    std::string state;
    std::string reason;
  };
  // The committed barrier row (id, op), nullopt if none; an error if the read failed.
  Result<std::optional<BarrierRow>> ReadBarrier(PGconn* conn, const participant::BranchId& id,
                                                std::string_view op);
  // INSERT ... ON CONFLICT DO NOTHING in the current transaction (or its own, in autocommit);
  // true if the row was inserted.
  Result<bool> InsertBarrier(PGconn* conn, const participant::BranchId& id, std::string_view op,
                             std::string_view state, std::string_view reason = {});
  void PurgeLoop();

  Config config_;
  std::unique_ptr<internal::Pool> pool_;
  std::string sql_insert_or_skip_, sql_read_, sql_barrier_;
  // Prepare's pipeline: the short lock wait around its barrier insert, and the configured one.
  std::string sql_barrier_wait_, sql_lock_wait_;
  mutable std::mutex mu_;
  std::map<std::string, CppAction, std::less<>> cpp_actions_;
  std::condition_variable purge_cv_;
  bool stopping_ = false;
  std::thread purger_;
};

}  // namespace txcoord::postgres
