#include "txcoord/postgres/config.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <libpq-fe.h>

#include <cctype>
#include <set>

namespace txcoord::postgres {
namespace {

bool IsNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

const std::set<std::string, std::less<>> kKnownKeys = {"name",
                                                       "kind",
                                                       "dsn",
                                                       "pool_size",
                                                       "pool_wait_ms",
                                                       "connect_timeout_ms",
                                                       "statement_timeout_ms",
                                                       "lock_timeout_ms",
                                                       "barrier_table",
                                                       "prepared_statements",
                                                       "purge_interval_ms",
                                                       "purge_horizon_s",
                                                       "actions"};

Result<std::string> GetString(const Poco::JSON::Object& o, const std::string& key, bool required) {
  if (!o.has(key)) {
    if (required) return InvalidArgument("config: missing \"" + key + "\"");
    return std::string();
  }
  Poco::Dynamic::Var v = o.get(key);
  if (!v.isString()) return InvalidArgument("config: \"" + key + "\" must be a string");
  return v.extract<std::string>();
}

// Reads a positive integer key into `out` (left unchanged when absent).
Status GetInt(const Poco::JSON::Object& o, const std::string& key, std::int64_t min,
              std::int64_t max, std::int64_t* out) {
  if (!o.has(key)) return Status::Ok();
  Poco::Dynamic::Var v = o.get(key);
  if (!v.isInteger()) return InvalidArgument("config: \"" + key + "\" must be an integer");
  const std::int64_t n = v.convert<std::int64_t>();
  if (n < min || n > max) {
    return InvalidArgument("config: \"" + key + "\" must be in [" + std::to_string(min) + ", " +
                           std::to_string(max) + "], got " + std::to_string(n));
  }
  *out = n;
  return Status::Ok();
}

// Reads a boolean key into `out` (left unchanged when absent).
Status GetBool(const Poco::JSON::Object& o, const std::string& key, bool* out) {
  if (!o.has(key)) return Status::Ok();
  Poco::Dynamic::Var v = o.get(key);
  if (!v.isBoolean()) return InvalidArgument("config: \"" + key + "\" must be true or false");
  *out = v.extract<bool>();
  return Status::Ok();
}

// A URI or key=value string must parse; a bare word is a database name (libpq's rule).
Status ValidateDsn(const std::string& dsn) {
  const bool conninfo = dsn.find('=') != std::string::npos || dsn.starts_with("postgres://") ||
                        dsn.starts_with("postgresql://");
  if (!conninfo) return Status::Ok();
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts != nullptr) {
    PQconninfoFree(opts);
    return Status::Ok();
  }
  std::string msg = err != nullptr ? err : "out of memory";
  if (err != nullptr) PQfreemem(err);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return InvalidArgument("config: \"dsn\" does not parse: " + msg);
}

Result<Action> ParseAction(const std::string& name, const Poco::JSON::Object& o) {
  const std::string where = "config: action \"" + name + "\": ";
  for (const auto& [key, value] : o) {
    if (key != "sql" && key != "expect_rows") {
      return InvalidArgument(where + "unknown key \"" + key + "\"");
    }
  }
  if (!o.has("sql")) return InvalidArgument(where + "missing \"sql\"");
  std::vector<std::string> sqls;
  Poco::Dynamic::Var sql = o.get("sql");
  if (sql.isString()) {
    sqls.push_back(sql.extract<std::string>());
  } else if (auto arr = o.getArray("sql")) {
    for (std::size_t i = 0; i < arr->size(); ++i) {
      if (!arr->get(i).isString())
        return InvalidArgument(where + "\"sql\" entries must be strings");
      sqls.push_back(arr->get(i).extract<std::string>());
    }
  } else {
    return InvalidArgument(where + "\"sql\" must be a string or an array of strings");
  }
  if (sqls.empty()) return InvalidArgument(where + "\"sql\" is empty");
  Action action;
  for (const std::string& text : sqls) {
    if (text.find_first_not_of(" \t\r\n;") == std::string::npos) {
      return InvalidArgument(where + "empty SQL statement");
    }
    auto st = ParseStatement(text);
    if (!st.ok()) return st.status().Annotate(where.substr(0, where.size() - 2));
    action.statements.push_back(std::move(st).value());
  }
  if (o.has("expect_rows")) {
    auto arr = o.getArray("expect_rows");
    if (!arr || arr->size() != sqls.size()) {
      return InvalidArgument(where +
                             "\"expect_rows\" must be an array with one entry per statement");
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      Poco::Dynamic::Var v = arr->get(i);
      if (v.isEmpty()) continue;  // null: any row count
      if (!v.isInteger() || v.convert<std::int64_t>() < 0) {
        return InvalidArgument(where + "\"expect_rows\" entries must be integers >= 0 or null");
      }
      action.statements[i].expect_rows = v.convert<std::int64_t>();
    }
  }
  return action;
}

}  // namespace

Result<Statement> ParseStatement(std::string_view sql) {
  Statement st;
  st.source = std::string(sql);
  std::map<std::string, int, std::less<>> index;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {  // copy a quoted literal or identifier verbatim
      const std::size_t end = sql.find(c, i + 1);
      if (end == std::string_view::npos) {
        return InvalidArgument("unterminated quote in SQL: " + st.source);
      }
      st.sql.append(sql.substr(i, end - i + 1));
      i = end;
      continue;
    }
    if (c == '$') return InvalidArgument("use :name parameters, not $n, in SQL: " + st.source);
    if (c != ':') {
      st.sql += c;
      continue;
    }
    if (i + 1 < sql.size() && sql[i + 1] == ':') {  // a "::type" cast
      st.sql += "::";
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    if (j >= sql.size() || !IsNameStart(sql[j])) {
      return InvalidArgument("bad parameter name after ':' at offset " + std::to_string(i) +
                             " in SQL: " + st.source);
    }
    while (j < sql.size() && IsNameChar(sql[j])) ++j;
    std::string name(sql.substr(i + 1, j - i - 1));
    auto [it, inserted] = index.emplace(name, static_cast<int>(st.params.size()) + 1);
    if (inserted) st.params.push_back(name);
    st.sql += "$" + std::to_string(it->second);
    i = j - 1;
  }
  return st;
}

Status ValidateTableName(std::string_view name) {
  auto part_ok = [](std::string_view p) {
    if (p.empty() || p.size() > 63) return false;
    if (!(std::islower(static_cast<unsigned char>(p[0])) || p[0] == '_')) return false;
    for (char c : p) {
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
        return false;
      }
    }
    return true;
  };
  const std::size_t dot = name.find('.');
  const bool ok = dot == std::string_view::npos
                      ? part_ok(name)
                      : part_ok(name.substr(0, dot)) && part_ok(name.substr(dot + 1));
  if (!ok) {
    return InvalidArgument("config: \"barrier_table\" must be [schema.]table of [a-z0-9_], got \"" +
                           std::string(name) + "\"");
  }
  return Status::Ok();
}

Result<Config> ParseConfig(const Poco::JSON::Object& json) {
  try {
    for (const auto& [key, value] : json) {
      if (!kKnownKeys.contains(key)) return InvalidArgument("config: unknown key \"" + key + "\"");
    }
    Config c;
    TXC_ASSIGN_OR_RETURN(c.name, GetString(json, "name", true));
    if (c.name.empty()) return InvalidArgument("config: \"name\" is empty");
    TXC_ASSIGN_OR_RETURN(std::string kind, GetString(json, "kind", false));
    if (!kind.empty() && kind != "postgres") {
      return InvalidArgument("config: \"kind\" must be \"postgres\", got \"" + kind + "\"");
    }
    TXC_ASSIGN_OR_RETURN(c.dsn, GetString(json, "dsn", true));
    if (c.dsn.empty()) return InvalidArgument("config: \"dsn\" is empty");
    TXC_RETURN_IF_ERROR(ValidateDsn(c.dsn));
    std::int64_t pool = c.pool_size, wait = c.pool_wait.count(),
                 connect = c.connect_timeout.count(), stmt = c.statement_timeout.count(),
                 lock = c.lock_timeout.count(), purge = c.purge_interval.count(),
                 horizon = c.purge_horizon.count();
    TXC_RETURN_IF_ERROR(GetInt(json, "pool_size", 1, 1000, &pool));
    TXC_RETURN_IF_ERROR(GetInt(json, "pool_wait_ms", 0, 3'600'000, &wait));
    TXC_RETURN_IF_ERROR(GetInt(json, "connect_timeout_ms", 1, 3'600'000, &connect));
    TXC_RETURN_IF_ERROR(GetInt(json, "statement_timeout_ms", 1, 3'600'000, &stmt));
    TXC_RETURN_IF_ERROR(GetInt(json, "lock_timeout_ms", 1, 3'600'000, &lock));
    TXC_RETURN_IF_ERROR(GetInt(json, "purge_interval_ms", 0, 86'400'000, &purge));
    TXC_RETURN_IF_ERROR(GetInt(json, "purge_horizon_s", 1, 10LL * 365 * 86400, &horizon));
    c.pool_size = static_cast<int>(pool);
    c.pool_wait = std::chrono::milliseconds(wait);
    c.connect_timeout = std::chrono::milliseconds(connect);
    c.statement_timeout = std::chrono::milliseconds(stmt);
    c.lock_timeout = std::chrono::milliseconds(lock);
    c.purge_interval = std::chrono::milliseconds(purge);
    c.purge_horizon = std::chrono::seconds(horizon);
    if (json.has("barrier_table")) {
      TXC_ASSIGN_OR_RETURN(c.barrier_table, GetString(json, "barrier_table", true));
    }
    TXC_RETURN_IF_ERROR(ValidateTableName(c.barrier_table));
    TXC_RETURN_IF_ERROR(GetBool(json, "prepared_statements", &c.prepared_statements));
    if (json.has("actions")) {
      auto actions = json.getObject("actions");
      if (!actions) return InvalidArgument("config: \"actions\" must be an object");
      for (const auto& [name, value] : *actions) {
        auto obj = actions->getObject(name);
        if (!obj) return InvalidArgument("config: action \"" + name + "\" must be an object");
        TXC_ASSIGN_OR_RETURN(c.actions[name], ParseAction(name, *obj));
      }
    }
    return c;
  } catch (const Poco::Exception& e) {
    return InvalidArgument("config: " + e.displayText());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("config: ") + e.what());
  }
}

Result<Config> ParseConfigText(std::string_view json_text) {
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(std::string(json_text));
    auto obj = v.extract<Poco::JSON::Object::Ptr>();
    if (!obj) return InvalidArgument("config: not a JSON object");
    return ParseConfig(*obj);
  } catch (const Poco::Exception& e) {
    return InvalidArgument("config: bad JSON: " + e.displayText());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("config: bad JSON: ") + e.what());
  }
}

}  // namespace txcoord::postgres
