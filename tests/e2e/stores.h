#pragma once
// Direct access to the real stores for end-to-end checks: a libpq connection and a hiredis
// connection, each owned by one test thread. Failures come back as std::nullopt / false with
// the store's message in last_error(); nothing throws.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace txcoord::e2e {

class Pg {
 public:
  explicit Pg(const std::string& dsn);
  ~Pg();
  Pg(const Pg&) = delete;
  Pg& operator=(const Pg&) = delete;

  bool ok() const;
  // Runs one or more statements; true when the last one succeeded.
  bool Exec(const std::string& sql);
  // First column of the first row; std::nullopt on error or no row (NULL reads as "").
  std::optional<std::string> Scalar(const std::string& sql);
  // First column of every row.
  std::vector<std::string> Column(const std::string& sql);
  const std::string& last_error() const { return last_error_; }

 private:
  PGconn* conn_ = nullptr;
  std::string last_error_;
};

class Redis {
 public:
  explicit Redis(const std::string& url);  // redis://host:port[/db]
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  bool ok() const;
  // The reply of a command given as separate arguments: a string/integer/status reply as text,
  // std::nullopt for nil or an error (the error text in last_error()).
  std::optional<std::string> Cmd(const std::vector<std::string>& args);
  // Every key matching `pattern` (SCAN, so safe on a shared server).
  std::vector<std::string> Keys(const std::string& pattern);
  const std::string& last_error() const { return last_error_; }

 private:
  redisContext* ctx_ = nullptr;
  std::string last_error_;
};

}  // namespace txcoord::e2e
