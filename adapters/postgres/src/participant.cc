// PostgresParticipant: start-up, validation, action dispatch, recovery listing and purge.
// The 2PC calls live in twopc.cc, the saga calls in saga.cc.
#include "txcoord/postgres/participant.h"

#include <algorithm>
#include <cmath>

#include "pg.h"
#include "pool.h"

namespace txcoord::postgres {

using internal::Exec;
using internal::Failure;
using participant::BranchCall;
using participant::BranchId;
using participant::Payload;

namespace {
// How long Prepare's barrier insert waits for a key held by another transaction (a duplicate)
// before PrepareTaken answers instead. Capped by the configured lock_timeout.
constexpr std::chrono::milliseconds kPrepareBarrierWait{20};
}  // namespace

Status CheckMaxPreparedTransactions(int value) {
  if (value > 0) return Status::Ok();
  return FailedPrecondition(
      "postgres: max_prepared_transactions is " + std::to_string(value) +
      "; two-phase commit needs it > 0. Set max_prepared_transactions (e.g. to max_connections) "
      "in postgresql.conf and restart PostgreSQL");
}

Result<QueryResult> PgTx::Exec(const std::string& sql, const std::vector<std::string>& params) {
  for (const auto& p : params) {
    if (p.find('\0') != std::string::npos) return InvalidArgument("parameter contains a NUL byte");
  }
  internal::Outcome o = internal::Exec(conn_, sql, params);
  switch (o.failure) {
    case Failure::kNone:
      return QueryResult{o.affected, std::move(o.rows)};
    case Failure::kBusiness:
      refusal_ = o.message;
      return FailedPrecondition(o.message);
    case Failure::kContention:
      return Aborted(o.message);
    case Failure::kConnection:
      return Unavailable(o.message);
    case Failure::kOther:
      return FailedPrecondition(o.message);
  }
  return Internal(o.message);
}

PostgresParticipant::PostgresParticipant(Config config) : config_(std::move(config)) {
  const std::string& t = config_.barrier_table;
  sql_insert_or_skip_ = "INSERT INTO " + t +
                        " (coordinator, gid, branch, op, state, reason) VALUES ($1, $2, $3, $4, "
                        "$5, $6) ON CONFLICT DO NOTHING";
  sql_read_ = "SELECT state, reason FROM " + t +
              " WHERE coordinator = $1 AND gid = $2 AND branch = $3 AND op = $4";
  // The first statement of Prepare and Execute: fails with 22012 (division by zero) whenever
  // no row was inserted, so that the action statements pipelined behind it are skipped by the
  // server. $4/$5: op and state.
  sql_barrier_ = "WITH ins AS (INSERT INTO " + t +
                 " (coordinator, gid, branch, op, state) VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
                 "DO NOTHING RETURNING 1) SELECT 1 / (SELECT count(*)::int FROM ins)";
  // Prepare's barrier key is held by another transaction only for a duplicate: one prepared (it
  // keeps the key until phase 2, which waits for this very call) or one still in flight. So the
  // insert waits briefly, then PrepareTaken looks at pg_prepared_xacts; the action statements
  // get the configured lock_timeout back. (Looking at pg_prepared_xacts before every insert
  // instead cost about a third of PostgreSQL's CPU per 2PC transaction: docs/performance.md.)
  sql_barrier_wait_ = "SET LOCAL lock_timeout = " +
                      std::to_string(std::min(config_.lock_timeout, kPrepareBarrierWait).count());
  sql_lock_wait_ = "SET LOCAL lock_timeout = " + std::to_string(config_.lock_timeout.count());
  internal::PoolOptions po;
  po.dsn = config_.dsn;
  po.size = config_.pool_size;
  po.wait = config_.pool_wait;
  po.connect_timeout = config_.connect_timeout;
  po.statement_timeout = config_.statement_timeout;
  po.lock_timeout = config_.lock_timeout;
  po.application_name = "txcoord:" + config_.name;
  po.prepared_statements = config_.prepared_statements;
  pool_ = std::make_unique<internal::Pool>(std::move(po));
}

PostgresParticipant::~PostgresParticipant() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  purge_cv_.notify_all();
  if (purger_.joinable()) purger_.join();
}

Result<std::unique_ptr<PostgresParticipant>> PostgresParticipant::Create(Config config) {
  TXC_RETURN_IF_ERROR(ValidateTableName(config.barrier_table));
  if (config.pool_size < 1) return InvalidArgument("config: \"pool_size\" must be >= 1");
  for (const auto& [name, action] : config.actions) {
    if (action.statements.empty()) {
      return InvalidArgument("config: action \"" + name + "\" has no SQL");
    }
  }
  std::unique_ptr<PostgresParticipant> p(new PostgresParticipant(std::move(config)));
  TXC_RETURN_IF_ERROR(p->Start());
  return p;
}

Status PostgresParticipant::Start() {
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  PGconn* c = lease.get();
  auto mpt = Exec(c, "SELECT current_setting('max_prepared_transactions')::int");
  if (!mpt.ok()) return internal::NothingApplied(mpt, "postgres: start-up check");
  TXC_RETURN_IF_ERROR(CheckMaxPreparedTransactions(std::stoi(*mpt.rows[0][0])));
  const std::string ddl =
      "CREATE TABLE IF NOT EXISTS " + config_.barrier_table +
      " (coordinator text NOT NULL, gid text NOT NULL, branch text NOT NULL, op text NOT NULL,"
      " state text NOT NULL, reason text NOT NULL DEFAULT '',"
      " created_at timestamptz NOT NULL DEFAULT now(),"
      " PRIMARY KEY (coordinator, gid, branch, op))";
  // Two processes creating the table at once can collide on the catalog (23505/42P07):
  // the loser tries again and finds the table there.
  internal::Outcome o;
  for (int attempt = 0; attempt < 3; ++attempt) {
    o = Exec(c, ddl);
    if (o.ok() || (o.sqlstate != "23505" && o.sqlstate != "42P07")) break;
  }
  if (!o.ok()) return internal::NothingApplied(o, "postgres: create barrier table");
  if (config_.purge_interval.count() > 0) purger_ = std::thread([this] { PurgeLoop(); });
  return Status::Ok();
}

Status PostgresParticipant::RegisterAction(std::string name, std::vector<std::string> required,
                                           ActionHandler handler) {
  if (name.empty()) return InvalidArgument("RegisterAction: empty action name");
  if (!handler) return InvalidArgument("RegisterAction: empty handler for \"" + name + "\"");
  std::lock_guard lock(mu_);
  if (config_.actions.contains(name) || cpp_actions_.contains(name)) {
    return InvalidArgument("RegisterAction: action \"" + name + "\" already exists");
  }
  cpp_actions_.emplace(std::move(name), CppAction{std::move(required), std::move(handler)});
  return Status::Ok();
}

Status PostgresParticipant::Validate(std::string_view action, const Payload& payload) const {
  for (const auto& [field, value] : payload) {
    if (value.find('\0') != std::string::npos) {
      return InvalidArgument("payload field \"" + field + "\" contains a NUL byte");
    }
  }
  auto require = [&](const std::string& field) {
    if (payload.contains(field)) return Status::Ok();
    return InvalidArgument("action \"" + std::string(action) + "\" needs payload field \"" + field +
                           "\"");
  };
  if (auto it = config_.actions.find(action); it != config_.actions.end()) {
    for (const Statement& st : it->second.statements) {
      for (const std::string& p : st.params) TXC_RETURN_IF_ERROR(require(p));
    }
    return Status::Ok();
  }
  std::lock_guard lock(mu_);
  if (auto it = cpp_actions_.find(action); it != cpp_actions_.end()) {
    for (const std::string& p : it->second.required) TXC_RETURN_IF_ERROR(require(p));
    return Status::Ok();
  }
  return InvalidArgument("unknown action \"" + std::string(action) + "\" on participant \"" +
                         config_.name + "\"");
}

Status PostgresParticipant::ValidateCall(const BranchCall& call) const {
  TXC_RETURN_IF_ERROR(participant::Validate(call.id));
  return Validate(call.action, call.payload);
}

std::optional<PostgresParticipant::Verdict> PostgresParticipant::CheckStatement(
    const std::string& action, std::size_t i, const Statement& st, const internal::Outcome& o) {
  const std::string where = "action \"" + action + "\" statement " + std::to_string(i + 1) + ": ";
  Verdict v;
  if (o.failure == Failure::kBusiness) {
    v.refusal = where + o.message;
    return v;
  }
  if (!o.ok()) {
    v.contention = o.failure == Failure::kContention;
    v.error = o.failure == Failure::kOther ? FailedPrecondition(where + o.message)
                                           : Unavailable(where + o.message);
    return v;
  }
  if (st.expect_rows && *st.expect_rows != o.affected) {
    v.refusal = where + std::to_string(o.affected) + " rows affected, expected " +
                std::to_string(*st.expect_rows);
    return v;
  }
  return std::nullopt;
}

Result<std::optional<PostgresParticipant::Verdict>> PostgresParticipant::BeginWithBarrier(
    internal::Lease& lease, const BranchCall& call, BarrierOp op, std::string_view what) {
  PGconn* c = lease.get();
  const bool prepare = op == BarrierOp::kPrepare;
  std::vector<internal::Query> queries = {{"BEGIN", {}}};
  if (prepare) queries.push_back({sql_barrier_wait_, {}});
  const std::size_t barrier_at = queries.size();
  queries.push_back({sql_barrier_,
                     {call.id.coordinator, call.id.gid, call.id.branch,
                      prepare ? "prepare" : "action", prepare ? "prepared" : "done"},
                     /*reuse=*/true});
  if (prepare) queries.push_back({sql_lock_wait_, {}});
  const std::size_t action_at = queries.size();
  const auto declared = config_.actions.find(call.action);
  if (declared != config_.actions.end()) {
    for (const Statement& st : declared->second.statements) {
      std::vector<std::string> values;
      for (const std::string& p : st.params) values.push_back(call.payload.find(p)->second);
      queries.push_back({st.sql, std::move(values), /*reuse=*/true});
    }
  }
  const std::vector<internal::Outcome> out = internal::ExecPipeline(c, queries, lease.statements());
  for (std::size_t i = 0; i < action_at; ++i) {
    const internal::Outcome& o = out[i];
    if (o.ok()) continue;
    internal::RollbackQuietly(c);
    if (i != barrier_at) return internal::NothingApplied(o, what);
    // 22012: no row inserted (the guard's division by zero).
    if (o.sqlstate == "22012") return std::optional<Verdict>();
    if (o.failure == Failure::kContention) {
      if (prepare) return std::optional<Verdict>();  // PrepareTaken tells which duplicate
      return Unavailable(std::string(what) + ": branch " + participant::ToString(call.id) +
                         " is held by a call in flight (" + o.message + "); retry");
    }
    return internal::NothingApplied(o, std::string(what) + ": barrier insert");
  }
  if (declared == config_.actions.end()) return std::optional<Verdict>(RunAction(c, call));
  const auto& statements = declared->second.statements;
  for (std::size_t i = 0; i < statements.size(); ++i) {
    if (auto failed = CheckStatement(call.action, i, statements[i], out[action_at + i])) {
      return failed;
    }
  }
  return std::optional<Verdict>(Verdict{});
}

PostgresParticipant::Verdict PostgresParticipant::RunAction(PGconn* conn, const BranchCall& call) {
  Verdict v;
  if (auto it = config_.actions.find(call.action); it != config_.actions.end()) {
    const auto& statements = it->second.statements;
    for (std::size_t i = 0; i < statements.size(); ++i) {
      const Statement& st = statements[i];
      std::vector<std::string> values;
      for (const std::string& p : st.params) values.push_back(call.payload.find(p)->second);
      if (auto failed = CheckStatement(call.action, i, st, Exec(conn, st.sql, values))) {
        return *std::move(failed);
      }
    }
    return v;
  }
  ActionHandler handler;
  {
    std::lock_guard lock(mu_);
    auto it = cpp_actions_.find(call.action);
    if (it == cpp_actions_.end()) {
      v.error = InvalidArgument("unknown action \"" + call.action + "\"");
      return v;
    }
    handler = it->second.handler;
  }
  PgTx tx(conn);
  Result<ActionVerdict> r = Internal("handler did not run");
  try {
    r = handler(tx, call.payload);
  } catch (const std::exception& e) {
    r = Internal("action \"" + call.action + "\" threw: " + e.what());
  } catch (...) {
    r = Internal("action \"" + call.action + "\" threw a non-std exception");
  }
  if (tx.refusal()) {
    v.refusal = "action \"" + call.action + "\": " + *tx.refusal();
  } else if (!r.ok()) {
    v.contention = r.status().code() == Code::kAborted;
    v.error = r.status();
  } else if (r->refusal) {
    v.refusal = "action \"" + call.action + "\": " + *r->refusal;
  } else if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
    v.error = Internal("action \"" + call.action + "\" left its transaction failed or closed");
  }
  return v;
}

Result<std::optional<PostgresParticipant::BarrierRow>> PostgresParticipant::ReadBarrier(
    PGconn* conn, const BranchId& id, std::string_view op) {
  auto o = Exec(conn, sql_read_, {id.coordinator, id.gid, id.branch, std::string(op)});
  if (!o.ok()) return internal::NothingApplied(o, "postgres: read barrier");
  if (o.rows.empty()) return std::optional<BarrierRow>();
  return std::optional<BarrierRow>(BarrierRow{*o.rows[0][0], *o.rows[0][1]});
}

Result<bool> PostgresParticipant::InsertBarrier(PGconn* conn, const BranchId& id,
                                                std::string_view op, std::string_view state,
                                                std::string_view reason) {
  auto o = Exec(conn, sql_insert_or_skip_,
                {id.coordinator, id.gid, id.branch, std::string(op), std::string(state),
                 std::string(reason)});
  if (o.failure == Failure::kContention) {
    return Unavailable("postgres: branch " + participant::ToString(id) +
                       " is held by a call in flight (" + o.message + "); retry");
  }
  if (!o.ok()) return internal::NothingApplied(o, "postgres: barrier insert");
  return o.affected == 1;
}

Result<std::vector<participant::InDoubtBranch>> PostgresParticipant::InDoubt(
    std::string_view coordinator_id) {
  if (!coordinator_id.empty())
    TXC_RETURN_IF_ERROR(participant::ValidateCoordinatorId(coordinator_id));
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  auto o = Exec(lease.get(),
                "SELECT gid, extract(epoch FROM prepared)::float8 FROM pg_prepared_xacts "
                "WHERE database = current_database() AND starts_with(gid, $1)",
                {std::string(participant::kPreparedPrefix)});
  if (!o.ok()) return internal::NothingApplied(o, "postgres: list prepared transactions");
  std::vector<participant::InDoubtBranch> out;
  for (const auto& row : o.rows) {
    auto id = participant::ParsePreparedName(*row[0]);
    if (!id.ok()) continue;  // someone else's name that happens to start with "txc:"
    if (!coordinator_id.empty() && id->coordinator != coordinator_id) continue;
    const double secs = std::stod(*row[1]);
    const auto since = std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::duration<double>(secs));
    out.push_back({std::move(id).value(), std::chrono::system_clock::time_point(since)});
  }
  return out;
}

Result<std::int64_t> PostgresParticipant::PurgeBarrier(std::chrono::seconds older_than) {
  if (older_than.count() < 0) return InvalidArgument("PurgeBarrier: negative horizon");
  TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
  auto o = Exec(lease.get(),
                "DELETE FROM " + config_.barrier_table +
                    " WHERE created_at < now() - make_interval(secs => $1::float8)",
                {std::to_string(older_than.count())});
  if (!o.ok()) return internal::NothingApplied(o, "postgres: purge barrier");
  return o.affected;
}

void PostgresParticipant::PurgeLoop() {
  std::unique_lock lock(mu_);
  while (!purge_cv_.wait_for(lock, config_.purge_interval, [this] { return stopping_; })) {
    lock.unlock();
    // A failed purge is retried at the next interval; nothing depends on it succeeding.
    (void)PurgeBarrier(config_.purge_horizon);
    lock.lock();
  }
}

}  // namespace txcoord::postgres
