#include "txp_server.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>

#include <exception>

namespace txcoord::txparticipant {
namespace {

using Poco::Net::HTTPResponse;

class JsonAnswer : public Poco::Net::HTTPRequestHandler {
 public:
  JsonAnswer(HTTPResponse::HTTPStatus status, std::string body, bool allow_get = false)
      : status_(status), body_(std::move(body)), allow_get_(allow_get) {}

  void handleRequest(Poco::Net::HTTPServerRequest&,
                     Poco::Net::HTTPServerResponse& response) override {
    try {
      response.setStatus(status_);
      response.setContentType("application/json");
      if (allow_get_) response.set("Allow", "GET");
      response.setContentLength(static_cast<std::streamsize>(body_.size()));
      response.send() << body_;
    } catch (const std::exception&) {
      // The client went away; nothing to tell it.
    }
  }

 private:
  HTTPResponse::HTTPStatus status_;
  std::string body_;
  bool allow_get_;
};

// Everything that is not /v1/participant/...: the health check, else 404.
class FallbackFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override {
    if (request.getURI() == "/healthz") {
      if (request.getMethod() != Poco::Net::HTTPRequest::HTTP_GET) {
        return new JsonAnswer(HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
                              R"({"code":"INVALID_ARGUMENT","message":"use GET /healthz"})",
                              /*allow_get=*/true);
      }
      return new JsonAnswer(HTTPResponse::HTTP_OK, R"({"status":"ok"})");
    }
    return new JsonAnswer(HTTPResponse::HTTP_NOT_FOUND,
                          R"({"code":"NOT_FOUND","message":"no such route"})");
  }
};

}  // namespace

TxpServer::TxpServer(std::shared_ptr<participant::ParticipantService> service, std::string host,
                     std::uint16_t port, int max_threads)
    : service_(std::move(service)),
      host_(std::move(host)),
      requested_port_(port),
      max_threads_(max_threads) {}

TxpServer::~TxpServer() {
  Stop();
}

Status TxpServer::Start() {
  if (server_) return FailedPrecondition("txparticipant server already started");
  const std::string where = host_ + ":" + std::to_string(requested_port_);
  try {
    Poco::Net::ServerSocket socket;
    // SO_REUSEADDR (restart while old connections linger in TIME_WAIT) but not SO_REUSEPORT:
    // a second txparticipant on the same port must fail, not share the port silently.
    socket.bind(Poco::Net::SocketAddress(host_, requested_port_), /*reuseAddress=*/true,
                /*reusePort=*/false);
    socket.listen(64);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(max_threads_);
    params->setMaxQueued(64);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(10, 0));
    params->setTimeout(Poco::Timespan(30, 0));
    pool_ = std::make_unique<Poco::ThreadPool>(1, max_threads_);
    server_ = std::make_unique<Poco::Net::HTTPServer>(
        new participant::MountedHandlerFactory(service_, new FallbackFactory), *pool_, socket,
        params);
    server_->start();
    port_ = server_->port();
    return Status::Ok();
  } catch (const Poco::Exception& e) {
    server_.reset();
    pool_.reset();
    return Unavailable("cannot listen on " + where + ": " + e.displayText());
  } catch (const std::exception& e) {
    server_.reset();
    pool_.reset();
    return Unavailable("cannot listen on " + where + ": " + e.what());
  }
}

void TxpServer::Stop() {
  if (!server_) return;
  try {
    server_->stopAll(/*abortCurrent=*/true);
    pool_->joinAll();
  } catch (const std::exception&) {
    // Best effort on a failing socket; the objects are destroyed regardless.
  }
  server_.reset();
  pool_.reset();
}

}  // namespace txcoord::txparticipant
