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

std::vector<Outcome> ExecPipeline(PGconn* conn, const std::vector<Query>& queries) {
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
  if (PQenterPipelineMode(conn) != 1) return lost("cannot enter pipeline mode");
  for (const Query& q : queries) {
    std::vector<const char*> values;
    values.reserve(q.params.size());
    for (const auto& p : q.params) values.push_back(p.c_str());
    if (PQsendQueryParams(conn, q.sql.c_str(), static_cast<int>(values.size()), nullptr,
                          values.data(), nullptr, nullptr, 0) != 1) {
      return lost("cannot send");
    }
  }
  if (PQpipelineSync(conn) != 1) return lost("cannot send");
  for (std::size_t i = 0; i < queries.size(); ++i) {
    PgResult first(PQgetResult(conn));
    if (!first) return lost("no result");
    if (PQresultStatus(first.get()) == PGRES_PIPELINE_ABORTED) {
      out.push_back(Failed(Failure::kOther, "skipped after an earlier error in the pipeline"));
    } else {
      out.push_back(FromResult(conn, first.get()));
    }
    // Each query's results end with a null; a broken connection may never send it.
    while (PgResult more{PQgetResult(conn)}) {
      if (Broken(conn)) break;
    }
    if (Broken(conn)) return lost("lost");
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
