#include "pg.h"

namespace txcoord::postgres::internal {
namespace {

Failure Classify(std::string_view state) {
  if (state.starts_with("23")) return Failure::kBusiness;
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014") {
    return Failure::kContention;
  }
  if (state.starts_with("08") || state.starts_with("57P")) return Failure::kConnection;
  return Failure::kOther;
}

// The Outcome of one result (null = the connection failed before a result came).
Outcome FromResult(PGconn* conn, const PGresult* res) {
  Outcome out;
  const ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (st == PGRES_TUPLES_OK) {
      const int n = PQntuples(res), f = PQnfields(res);
      out.affected = n;
      for (int r = 0; r < n; ++r) {
        auto& row = out.rows.emplace_back();
        for (int c = 0; c < f; ++c) {
          if (PQgetisnull(res, r, c)) {
            row.emplace_back(std::nullopt);
          } else {
            row.emplace_back(std::string(PQgetvalue(res, r, c)));
          }
        }
      }
    } else {
      const char* tuples = PQcmdTuples(const_cast<PGresult*>(res));
      out.affected = (tuples != nullptr && *tuples != '\0') ? std::stoll(tuples) : 0;
    }
    return out;
  }
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  out.sqlstate = state != nullptr ? state : "";
  const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg = primary != nullptr ? primary : PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (st != PGRES_FATAL_ERROR && st != PGRES_NONFATAL_ERROR) {
    msg = "unexpected result " + std::string(PQresStatus(st)) + ": " + msg;
  }
  out.failure =
      (Broken(conn) || out.sqlstate.empty()) ? Failure::kConnection : Classify(out.sqlstate);
  out.message =
      (out.sqlstate.empty() ? std::string("connection: ") : "SQLSTATE " + out.sqlstate + ": ") +
      msg;
  return out;
}

Outcome Failed(Failure failure, std::string message) {
  Outcome out;
  out.failure = failure;
  out.message = std::move(message);
  return out;
}

}  // namespace

Outcome Exec(PGconn* conn, const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult res(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0));
  return FromResult(conn, res.get());
}

namespace {

// Queues `q` on a connection in pipeline mode: as the cached named statement, or preceded by
// its Parse under a new name (`*preparing`), or unnamed. False when libpq refused to queue.
bool SendQuery(PGconn* conn, const Query& q, StatementCache* cache, std::string* name,
               bool* preparing) {
  const int n = static_cast<int>(q.params.size());
  std::vector<const char*> values;
  values.reserve(q.params.size());
  for (const auto& p : q.params) values.push_back(p.c_str());
  if (cache != nullptr && q.reuse) {
    if (auto it = cache->names.find(q.sql); it != cache->names.end()) {
      *name = it->second;
    } else {
      *name = "txc_" + std::to_string(cache->next++);
      *preparing = true;
      if (PQsendPrepare(conn, name->c_str(), q.sql.c_str(), n, nullptr) != 1) return false;
    }
  }
  const int sent =
      name->empty()
          ? PQsendQueryParams(conn, q.sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0)
          : PQsendQueryPrepared(conn, name->c_str(), n, values.data(), nullptr, nullptr, 0);
  return sent == 1;
}

}  // namespace

std::vector<Outcome> ExecPipeline(PGconn* conn, const std::vector<Query>& queries,
                                  StatementCache* cache) {
  std::vector<Outcome> out;
  const auto lost = [&](std::string_view what) {
    std::string msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    while (out.size() < queries.size()) {
      out.push_back(Failed(Failure::kConnection,
                           "connection: " + std::string(what) + (msg.empty() ? "" : ": ") + msg));
    }
    return out;
  };
  // Per query: the name it runs under ("" = unnamed), and whether this call prepares it.
  std::vector<std::string> names(queries.size());
  std::vector<bool> preparing(queries.size(), false);
  if (PQenterPipelineMode(conn) != 1) return lost("cannot enter pipeline mode");
  for (std::size_t i = 0; i < queries.size(); ++i) {
    bool prepares = false;
    if (!SendQuery(conn, queries[i], cache, &names[i], &prepares)) return lost("cannot send");
    preparing[i] = prepares;
  }
  if (PQpipelineSync(conn) != 1) return lost("cannot send");
  // The first result of one request (the rest drained); nullopt when the connection broke.
  const auto next = [&]() -> std::optional<Outcome> {
    PgResult first(PQgetResult(conn));
    if (!first) return std::nullopt;
    std::optional<Outcome> o;
    if (PQresultStatus(first.get()) == PGRES_PIPELINE_ABORTED) {
      o = Failed(Failure::kOther, "skipped after an earlier error in the pipeline");
    } else {
      o = FromResult(conn, first.get());
    }
    // Each request's results end with a null; a broken connection may never send it.
    while (PgResult more{PQgetResult(conn)}) {
      if (Broken(conn)) break;
    }
    if (Broken(conn)) return std::nullopt;
    return o;
  };
  for (std::size_t i = 0; i < queries.size(); ++i) {
    std::optional<Outcome> prepared;
    if (preparing[i]) {
      prepared = next();
      if (!prepared) return lost("lost");
      if (prepared->ok()) cache->names.emplace(queries[i].sql, names[i]);
    }
    std::optional<Outcome> o = next();
    if (!o) return lost("lost");
    // A failed prepare is the query's failure (its execution was skipped).
    if (prepared && !prepared->ok()) o = std::move(prepared);
    if (cache != nullptr && !names[i].empty() && !preparing[i] && o->sqlstate == "0A000") {
      // Retrying the call runs it on a fresh connection, where it is prepared anew.
      cache->discard = true;
      o->failure = Failure::kConnection;
      o->message =
          "statement prepared on this connection went stale (connection dropped; retry): " +
          o->message;
    }
    out.push_back(std::move(*o));
  }
  PgResult sync(PQgetResult(conn));
  if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) return lost("no sync");
  PQexitPipelineMode(conn);  // fails only while results are pending; the pool checks
  return out;
}

bool Broken(PGconn* conn) {
  return conn == nullptr || PQstatus(conn) != CONNECTION_OK;
}

void RollbackQuietly(PGconn* conn) {
  if (PQtransactionStatus(conn) == PQTRANS_IDLE) return;
  PgResult(PQexec(conn, "ROLLBACK"));
}

std::string Literal(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

Status NothingApplied(const Outcome& o, std::string_view what) {
  std::string msg = std::string(what) + ": " + o.message;
  switch (o.failure) {
    case Failure::kNone:
      return Status::Ok();
    case Failure::kConnection:
    case Failure::kContention:
      return Unavailable(std::move(msg));
    case Failure::kBusiness:
    case Failure::kOther:
      return FailedPrecondition(std::move(msg));
  }
  return Internal(std::move(msg));
}

}  // namespace txcoord::postgres::internal
