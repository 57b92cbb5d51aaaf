#include "txcoord/server/api_server.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>

#include "handler.h"

namespace txcoord::server {

struct ApiServer::Impl {
  Context ctx;
  Poco::ThreadPool pool;
  std::unique_ptr<Poco::Net::HTTPServer> http;
  bool stopped = false;

  Impl(coordinator::TransactionManager& m, ServerOptions o)
      : ctx{m, std::move(o), {}}, pool(2, std::max(2, ctx.options.max_threads)) {}
};

Result<std::unique_ptr<ApiServer>> ApiServer::Start(coordinator::TransactionManager& manager,
                                                    ServerOptions options) {
  if (options.max_body_bytes == 0) return InvalidArgument("max_body_bytes must be > 0");
  if (options.max_threads < 1 || options.max_queued < 1) {
    return InvalidArgument("max_threads and max_queued must be >= 1");
  }
  auto impl = std::make_unique<Impl>(manager, std::move(options));
  try {
    Poco::Net::ServerSocket socket;
    // Not SO_REUSEPORT: a second coordinator on a port in use must fail, not share it silently.
    socket.bind(Poco::Net::SocketAddress(impl->ctx.options.host, impl->ctx.options.port),
                /*reuseAddress=*/true, /*reusePort=*/false);
    socket.listen(128);
    auto* params = new Poco::Net::HTTPServerParams;  // ref-counted; owned by the server
    params->setMaxThreads(impl->ctx.options.max_threads);
    params->setMaxQueued(impl->ctx.options.max_queued);
    params->setKeepAlive(true);
    impl->http = std::make_unique<Poco::Net::HTTPServer>(new ApiHandlerFactory(impl->ctx),
                                                         impl->pool, socket, params);
    impl->http->start();
  } catch (const Poco::Exception& e) {
    return Unavailable("cannot listen on " + impl->ctx.options.host + ":" +
                       std::to_string(impl->ctx.options.port) + ": " + e.displayText());
  }
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() {
  Stop();
}

std::uint16_t ApiServer::port() const {
  return impl_->http->port();
}

void ApiServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->http->stopAll(false);  // stop accepting; requests in progress finish
  impl_->pool.joinAll();
}

}  // namespace txcoord::server
