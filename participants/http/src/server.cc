#include "txcoord/participant/server.h"

#include <exception>

#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>

namespace txcoord::participant {

ParticipantServer::ParticipantServer(std::shared_ptr<ParticipantService> service,
                                     ServerOptions options)
    : service_(std::move(service)), options_(std::move(options)) {}

ParticipantServer::~ParticipantServer() {
  Stop();
}

Status ParticipantServer::Start() {
  if (server_) return FailedPrecondition("participant server already started");
  if (!service_) return InvalidArgument("participant server: null service");
  if (options_.max_threads < 1 || options_.max_queued < 1) {
    return InvalidArgument("participant server: max_threads and max_queued must be >= 1");
  }
  if (options_.keep_alive_timeout.count() <= 0 || options_.io_timeout.count() <= 0) {
    return InvalidArgument("participant server: timeouts must be > 0");
  }
  try {
    Poco::Net::ServerSocket socket;
    // SO_REUSEADDR (restart while old connections linger in TIME_WAIT) but not SO_REUSEPORT:
    // a second server on a port in use must fail, not share the port silently.
    socket.bind(Poco::Net::SocketAddress(options_.host, options_.port), /*reuseAddress=*/true,
                /*reusePort=*/false);
    socket.listen(options_.max_queued);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options_.max_threads);
    params->setMaxQueued(options_.max_queued);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(options_.keep_alive_timeout.count() * 1000));
    params->setTimeout(Poco::Timespan(options_.io_timeout.count() * 1000));
    pool_ = std::make_unique<Poco::ThreadPool>(1, options_.max_threads);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new MountedHandlerFactory(service_, nullptr),
                                                      *pool_, socket, params);
    server_->start();
    port_ = server_->port();
    return Status::Ok();
  } catch (const std::exception& e) {
    server_.reset();
    pool_.reset();
    return Unavailable("participant server: cannot listen on " + options_.host + ":" +
                       std::to_string(options_.port) + ": " + e.what());
  }
}

void ParticipantServer::Stop() {
  if (!server_) return;
  try {
    server_->stopAll(/*abortCurrent=*/true);
    pool_->joinAll();
  } catch (const std::exception&) {
    // Stop is best effort on a failing socket; the objects below are destroyed regardless.
  }
  server_.reset();
  pool_.reset();
}

int ParticipantServer::total_connections() const {
  return server_ ? server_->totalConnections() : 0;
}
int ParticipantServer::current_connections() const {
  return server_ ? server_->currentConnections() : 0;
}

}  // namespace txcoord::participant
