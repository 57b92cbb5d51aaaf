#include "pool.h"

#include <poll.h>

#include <algorithm>

namespace txcoord::postgres::internal {

Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(std::move(conn_));
}

StatementCache* Lease::statements() const {
  return pool_->options_.prepared_statements ? &conn_->statements : nullptr;
}

namespace {

// An idle connection has nothing to read. Readable means EOF or an unsolicited message —
// in practice the server's "terminating connection" before it closed the socket (restart,
// crash, idle timeout) — so the connection is not trusted. No round trip is made.
bool IdleAndHealthy(PGconn* c) {
  if (PQstatus(c) != CONNECTION_OK) return false;
  pollfd pfd{PQsocket(c), POLLIN, 0};
  const int n = poll(&pfd, 1, 0);
  return n == 0;
}

}  // namespace

Pool::~Pool() {
  for (const auto& c : idle_) PQfinish(c->conn);
}

int Pool::open_connections() const {
  std::lock_guard lock(mu_);
  return open_;
}

Result<PGconn*> Pool::Connect() const {
  const auto secs = std::max<long long>(
      2, (options_.connect_timeout.count() + 999) / 1000);  // libpq's minimum is 2 s
  const std::string opts =
      "-c statement_timeout=" + std::to_string(options_.statement_timeout.count()) +
      " -c lock_timeout=" + std::to_string(options_.lock_timeout.count());
  const std::string timeout = std::to_string(secs);
  const char* keys[] = {"dbname", "connect_timeout", "options", "application_name", nullptr};
  const char* values[] = {options_.dsn.c_str(), timeout.c_str(), opts.c_str(),
                          options_.application_name.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (c == nullptr) return Unavailable("postgres: out of memory opening a connection");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(c);
    return Unavailable("postgres: cannot connect: " + msg);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  return c;
}

Result<Lease> Pool::Acquire() {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.wait;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<PooledConn> c = std::move(idle_.back());
      idle_.pop_back();
      if (IdleAndHealthy(c->conn)) return Lease(this, std::move(c));
      PQfinish(c->conn);
      --open_;
    }
    if (open_ < options_.size) {
      ++open_;
      lock.unlock();
      auto c = Connect();
      if (!c.ok()) {
        lock.lock();
        --open_;
        cv_.notify_one();
        return c.status();
      }
      auto pooled = std::make_unique<PooledConn>();
      pooled->conn = *c;
      return Lease(this, std::move(pooled));
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.size) {
      return Unavailable("postgres: no free connection within " +
                         std::to_string(options_.wait.count()) + " ms (pool_size " +
                         std::to_string(options_.size) + ")");
    }
  }
}

void Pool::Release(std::unique_ptr<PooledConn> conn) {
  PGconn* c = conn->conn;
  const bool reusable = PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE &&
                        PQpipelineStatus(c) == PQ_PIPELINE_OFF && !conn->statements.discard;
  if (!reusable) PQfinish(c);
  std::lock_guard lock(mu_);
  if (reusable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  cv_.notify_one();
}

}  // namespace txcoord::postgres::internal
