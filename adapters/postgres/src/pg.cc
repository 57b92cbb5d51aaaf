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

}  // namespace

Outcome Exec(PGconn* conn, const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult res(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0));
  Outcome out;
  const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (st == PGRES_TUPLES_OK) {
      const int n = PQntuples(res.get()), f = PQnfields(res.get());
      out.affected = n;
      for (int r = 0; r < n; ++r) {
        auto& row = out.rows.emplace_back();
        for (int c = 0; c < f; ++c) {
          if (PQgetisnull(res.get(), r, c)) {
            row.emplace_back(std::nullopt);
          } else {
            row.emplace_back(std::string(PQgetvalue(res.get(), r, c)));
          }
        }
      }
    } else {
      const char* tuples = PQcmdTuples(res.get());
      out.affected = (tuples != nullptr && *tuples != '\0') ? std::stoll(tuples) : 0;
    }
    return out;
  }
  const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
  out.sqlstate = state != nullptr ? state : "";
  const char* primary = res ? PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
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
