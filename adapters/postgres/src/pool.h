#pragma once
// A bounded pool of libpq connections.
//
// Acquire() hands out an idle connection (checked first without a round trip: a readable idle
// socket means EOF or the server's goodbye, e.g. after a restart, and such connections
// are dropped and replaced), opens a new one while fewer
// than `size` exist, or waits up to `wait` for a release — then Unavailable. A lease returned
// broken, inside a transaction or still in pipeline mode is closed, never reused, so session
// state cannot leak.
// Per-connection settings (statement_timeout, lock_timeout, application_name) are passed as
// startup options, never as session SETs. Each connection carries the cache of the statements
// prepared on it (ExecPipeline), which lives and dies with it.
// Thread-safety: Acquire/release are safe from any thread; a Lease is used by one thread.
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pg.h"

#include "txcoord/core/status.h"

namespace txcoord::postgres::internal {

struct PoolOptions {
  std::string dsn;
  int size = 8;
  std::chrono::milliseconds wait{1000};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds statement_timeout{5000};
  std::chrono::milliseconds lock_timeout{1000};
  std::string application_name = "txcoord";
  bool prepared_statements = true;  // false: Lease::statements() is null (e.g. behind PgBouncer)
};

class Pool;

// One pooled connection and the statements prepared on it.
struct PooledConn {
  PGconn* conn = nullptr;
  StatementCache statements;
};

class Lease {
 public:
  Lease() = default;
  Lease(Pool* pool, std::unique_ptr<PooledConn> conn) : pool_(pool), conn_(std::move(conn)) {}
  Lease(Lease&& o) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  PGconn* get() const { return conn_->conn; }
  // The connection's prepared-statement cache for ExecPipeline; null when they are off.
  StatementCache* statements() const;

 private:
  Pool* pool_ = nullptr;
  std::unique_ptr<PooledConn> conn_;
};

class Pool {
 public:
  explicit Pool(PoolOptions options) : options_(std::move(options)) {}
  ~Pool();  // closes idle connections; every Lease must be gone
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Result<Lease> Acquire();
  int open_connections() const;

 private:
  friend class Lease;
  void Release(std::unique_ptr<PooledConn> conn);
  Result<PGconn*> Connect() const;

  const PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PooledConn>> idle_;
  int open_ = 0;  // idle + leased + being opened
};

}  // namespace txcoord::postgres::internal
