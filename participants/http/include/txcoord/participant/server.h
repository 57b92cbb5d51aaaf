#pragma once
// ParticipantServer: a ParticipantService on its own Poco HTTP server, for processes that have
// no HTTP server of their own. Requests other than /v1/participant/... get 404.
// Thread-safety: Start/Stop from one owning thread; the accessors from any thread.
#include <chrono>
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

namespace txcoord::participant {

struct ServerOptions {
  std::string host = "127.0.0.1";  // address to bind ("0.0.0.0" for all interfaces)
  std::uint16_t port = 0;          // 0 = ephemeral; see ParticipantServer::port()
  int max_threads = 8;             // requests served at once (bounded thread pool)
  int max_queued = 64;             // accepted connections waiting for a thread; beyond: refused
  std::chrono::milliseconds keep_alive_timeout{10000};  // idle keep-alive connections closed after
  std::chrono::milliseconds io_timeout{30000};          // per socket read/write of a request
};

class ParticipantServer {
 public:
  ParticipantServer(std::shared_ptr<ParticipantService> service, ServerOptions options);
  ~ParticipantServer();  // Stop()
  ParticipantServer(const ParticipantServer&) = delete;
  ParticipantServer& operator=(const ParticipantServer&) = delete;

  // Binds and starts serving. InvalidArgument for bad options, Unavailable when the address
  // cannot be bound, FailedPrecondition when already started.
  Status Start();
  // Stops accepting, aborts idle keep-alive connections and waits for running requests.
  // Idempotent.
  void Stop();

  // The bound port (the ephemeral one when options.port was 0); 0 before Start().
  std::uint16_t port() const { return port_; }
  // Connections accepted since Start() / open now (Poco's TCPServer counters).
  int total_connections() const;
  int current_connections() const;

 private:
  std::shared_ptr<ParticipantService> service_;
  ServerOptions options_;
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  std::uint16_t port_ = 0;
};

}  // namespace txcoord::participant
