#pragma once
// The HTTP side of txparticipant: one Poco HTTPServer that answers /v1/participant/... through
// a ParticipantService (MountedHandlerFactory) and, next to it, GET /healthz (200
// {"status":"ok"}, no token: it tells a supervisor the process serves requests, nothing about
// the stores). Every other path is 404, a non-GET /healthz is 405.
// Thread-safety: Start/Stop from the owning thread only.
#include <cstdint>
#include <memory>
#include <string>

#include "txcoord/core/status.h"
#include "txcoord/participant/service.h"

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
}
}  // namespace Poco

namespace txcoord::txparticipant {

class TxpServer {
 public:
  TxpServer(std::shared_ptr<participant::ParticipantService> service, std::string host,
            std::uint16_t port, int max_threads);
  ~TxpServer();  // Stop()
  TxpServer(const TxpServer&) = delete;
  TxpServer& operator=(const TxpServer&) = delete;

  // Binds and serves. Unavailable when the address cannot be bound (e.g. port in use).
  Status Start();
  // Stops accepting, closes idle connections and waits for running requests. Idempotent.
  void Stop();
  std::uint16_t port() const { return port_; }

 private:
  std::shared_ptr<participant::ParticipantService> service_;
  std::string host_;
  std::uint16_t requested_port_;
  int max_threads_;
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  std::uint16_t port_ = 0;
};

}  // namespace txcoord::txparticipant
