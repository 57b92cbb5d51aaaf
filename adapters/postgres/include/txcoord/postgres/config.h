#pragma once
// Configuration of the PostgreSQL participant, parsed from JSON (Poco::JSON):
//
//   {"name":"bank-pg", "kind":"postgres", "dsn":"postgresql://...", "pool_size":8,
//    "pool_wait_ms":1000, "connect_timeout_ms":2000, "statement_timeout_ms":5000,
//    "lock_timeout_ms":1000, "barrier_table":"txc_barrier", "prepared_statements":true,
//    "purge_interval_ms":0, "purge_horizon_s":604800,
//    "actions":{"debit":{"sql":["UPDATE accounts SET balance = balance - :amount
//                                WHERE id = :account AND balance >= :amount"],
//                        "expect_rows":[1]}}}
//
// Named parameters (":name", name = [A-Za-z_][A-Za-z0-9_]*) are rewritten to $n and bound
// from payload fields as text parameters; values never enter the SQL text. "::" casts and
// text inside '...' / "..." are left alone. Every parse error is InvalidArgument naming the
// key at fault. Thread-safety: values.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/status.h"

namespace Poco::JSON {
class Object;
}

namespace txcoord::postgres {

// One SQL statement of a declared action, with its named parameters resolved.
struct Statement {
  std::string source;                       // as configured, for messages
  std::string sql;                          // ":name" replaced by "$n"
  std::vector<std::string> params;          // params[n-1] = payload field bound to $n
  std::optional<std::int64_t> expect_rows;  // affected/returned rows required, if set
};

struct Action {
  std::vector<Statement> statements;
};

struct Config {
  std::string name;
  std::string dsn;
  int pool_size = 8;
  std::chrono::milliseconds pool_wait{1000};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds statement_timeout{5000};
  std::chrono::milliseconds lock_timeout{1000};
  std::string barrier_table = "txc_barrier";
  // The barrier insert and declared actions' statements are prepared once per pooled connection.
  // Off for poolers that do not keep server sessions (PgBouncer in transaction mode before 1.21).
  bool prepared_statements = true;
  std::chrono::milliseconds purge_interval{0};  // 0 = no background purge
  std::chrono::seconds purge_horizon{7 * 24 * 3600};
  std::map<std::string, Action, std::less<>> actions;
};

Result<Config> ParseConfig(const Poco::JSON::Object& json);
// Parses JSON text first (InvalidArgument on a syntax error), then ParseConfig.
Result<Config> ParseConfigText(std::string_view json_text);

// Rewrites named parameters to $n. InvalidArgument on a ':' followed by a bad name.
Result<Statement> ParseStatement(std::string_view sql);
// SQL identifier rule for the barrier table: [a-z_][a-z0-9_]{0,62}, optionally "schema.table".
Status ValidateTableName(std::string_view name);

}  // namespace txcoord::postgres
