#pragma once
// The API's request handler (internal): one instance per request, routing by method and path.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include "metrics.h"
#include "txcoord/server/api_server.h"

namespace txcoord::server {

// Shared by every handler; owned by ApiServer::Impl, outlives the Poco server.
struct Context {
  coordinator::TransactionManager& manager;
  ServerOptions options;
  HttpCounters http;
};

class ApiHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit ApiHandlerFactory(Context& ctx) : ctx_(ctx) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override;

 private:
  Context& ctx_;
};

}  // namespace txcoord::server
