#pragma once
// ApiServer: the coordinator's HTTP API (docs/api.md) over a TransactionManager, on
// Boost.Beast/Asio: `io_threads` threads run every connection (one request at a time each,
// keep-alive), the handlers run on a pool of `max_threads` workers because the manager blocks.
//
//   POST /v1/transactions                    start (2pc; open); Idempotency-Key; ?wait=false → 202
//   GET  /v1/transactions/{gid}              one transaction (404 if unknown)
//   GET  /v1/transactions?state=&limit=      list, newest first
//   POST /v1/transactions/{gid}/branches     register a prepared branch (open transactions)
//   POST /v1/transactions/{gid}/commit|abort end an open transaction
//   POST /v1/transactions/{gid}/retry        operator: resend phase 2 now
//   GET  /healthz /readyz /metrics           liveness, readiness, Prometheus text
//
// Bodies are JSON by default, Protobuf (api.proto) with Content-Type application/x-protobuf.
// Every error is {"error":{"code":"...","message":"..."}} with a 4xx/5xx status; bad input never
// changes state. With a token configured, /v1/* needs "Authorization: Bearer <token>" (401 when
// missing, 403 when wrong); the health and metrics routes stay open.
// Ownership: the server borrows the manager, which must outlive it. Thread-safety: Start/Stop
// from one thread. Failure: Start fails Unavailable when it cannot listen, InvalidArgument on bad
// options; a bad or slow client gets 400/408/413/431 and its connection closed, never a crash.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "txcoord/api/request.h"
#include "txcoord/coordinator/transaction_manager.h"
#include "txcoord/core/status.h"
#include "txcoord/wal/log.h"

namespace txcoord::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;                // 0 = ephemeral (see ApiServer::port())
  std::string token;                     // empty = no auth
  std::size_t max_body_bytes = 1 << 20;  // beyond: 413, connection closed
  int max_threads = 32;                  // workers serving requests (the manager's calls block)
  int max_queued = 256;  // requests waiting for a worker; beyond: 503 with Retry-After
  int io_threads = 2;    // threads running every connection's I/O (no thread per connection)
  std::size_t max_connections = 1024;  // beyond: a new connection is closed as soon as accepted
  std::size_t max_header_bytes = 16 << 10;  // request line and headers; beyond: 431, closed
  // A keep-alive connection with no request started for this long is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  // One request's line, headers and body must arrive within this, counted from its first byte
  // (from the accept for a connection's first request): 408 and closed otherwise (slowloris).
  std::chrono::milliseconds read_timeout{30'000};
  // One response must be written within this, else the connection is closed.
  std::chrono::milliseconds write_timeout{30'000};
  // How long a waiting POST keeps waiting for phase 2 after the decision before answering
  // (the decision is already durable; the answer says whether phase 2 completed).
  std::chrono::milliseconds phase2_wait{5'000};
  api::Limits limits;
  // WAL figures for /metrics; optional.
  std::function<wal::Stats()> wal_stats;
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> Start(coordinator::TransactionManager& manager,
                                                  ServerOptions options);
  ~ApiServer();  // stops
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  std::uint16_t port() const;
  // Stops accepting, lets requests in progress finish and answers them (Connection: close), then
  // closes every connection. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace txcoord::server
