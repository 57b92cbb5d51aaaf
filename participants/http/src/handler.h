#pragma once
// The request handler behind ParticipantService (internal). One instance per request.
#include <memory>

#include <Poco/Net/HTTPRequestHandler.h>

#include "txcoord/participant/service.h"

namespace txcoord::participant::internal {

class ParticipantHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit ParticipantHandler(std::shared_ptr<ParticipantService> service)
      : service_(std::move(service)) {}
  // Never throws: every failure becomes an error response (or, once the response is sent, a
  // closed connection).
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  std::shared_ptr<ParticipantService> service_;
};

}  // namespace txcoord::participant::internal
