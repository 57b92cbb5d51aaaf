#pragma once
// Thin libpq helpers private to the adapter: owning handles, one statement with bound text
// parameters, and classification of failures into what the caller does next.
// Thread-safety: a PGconn is used by one thread at a time (the pool hands it out).
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "txcoord/core/status.h"

namespace txcoord::postgres::internal {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

enum class Failure : std::uint8_t {
  kNone,
  kBusiness,    // 23xxx integrity violation (CHECK, unique, FK, not null)
  kContention,  // 40001, 40P01, 55P03 lock timeout, 57014 statement timeout
  kConnection,  // the connection is broken (or the server is shutting down: 57P0x)
  kOther,       // anything else (syntax error, missing table, ...)
};

// The outcome of one statement. `rows` holds text values (nullopt = SQL NULL).
struct Outcome {
  Failure failure = Failure::kNone;
  std::string sqlstate;
  std::string message;        // "SQLSTATE xxxxx: primary message" on failure
  std::int64_t affected = 0;  // rows changed (DML) or returned (SELECT)
  std::vector<std::vector<std::optional<std::string>>> rows;

  bool ok() const { return failure == Failure::kNone; }
};

// Runs one statement with $n text parameters (never spliced into the SQL text).
Outcome Exec(PGconn* conn, const std::string& sql, const std::vector<std::string>& params = {});

// One statement of a pipeline. `reuse`: prepare it once per connection (when ExecPipeline gets
// a cache) instead of parsing and planning it on every call.
struct Query {
  std::string sql;
  std::vector<std::string> params;
  bool reuse = false;
};

// The statements prepared on one connection (protocol-level named statements, which live as long
// as the server session). Owned next to its connection; used by one thread at a time.
struct StatementCache {
  std::unordered_map<std::string, std::string> names;  // SQL text → statement name
  std::uint64_t next = 0;                              // names are never reused
  // A cached statement failed with 0A000 ("cached plan must not change result type" after a
  // table changed): the connection is closed instead of reused, and its cache with it. That
  // query's Outcome is kConnection (retry the call), not kOther.
  bool discard = false;
};

// Sends every query in libpq pipeline mode followed by one Sync — one round trip — and returns
// one Outcome per query, in order. As in a script, the server skips every query after the first
// that fails (up to the Sync); a skipped query's Outcome is kOther "skipped". Queries inside an
// explicit transaction (a BEGIN among them) leave it open: INTRANS if all succeeded, INERROR
// otherwise (the caller rolls back). A lost connection → kConnection for every query not
// answered. On any failure to leave pipeline mode the connection stays in it, and the pool
// closes it instead of reusing it. With a `cache`, `reuse` queries run as named statements,
// prepared in the same round trip the first time on this connection (a failed prepare is the
// query's Outcome and is not cached).
std::vector<Outcome> ExecPipeline(PGconn* conn, const std::vector<Query>& queries,
                                  StatementCache* cache = nullptr);

// True when the connection can no longer be used (dropped by the pool).
bool Broken(PGconn* conn);

// "ROLLBACK" ignoring failure (the connection is dropped by the pool if it is broken).
void RollbackQuietly(PGconn* conn);

// Quotes a string literal for utility commands that take no parameters (PREPARE
// TRANSACTION, COMMIT PREPARED). Only used for names that ValidateBranchId has checked.
std::string Literal(std::string_view s);

// Maps a failed statement to a Status for calls where nothing was applied.
Status NothingApplied(const Outcome& o, std::string_view what);

}  // namespace txcoord::postgres::internal
