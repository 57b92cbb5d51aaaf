#include "txcoord/participant/service.h"

#include <mutex>

#include <Poco/Net/HTTPServerResponse.h>

#include "handler.h"
#include "txcoord/participant/wire.h"

namespace txcoord::participant {
namespace {

bool IsSegmentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// Answers 404 for requests a mounted service does not own and that have no fallback.
class NotFoundHandler : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest&,
                     Poco::Net::HTTPServerResponse& response) override {
    response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_NOT_FOUND);
    response.setContentLength(0);
    response.send();
  }
};

}  // namespace

Result<std::shared_ptr<ParticipantService>> ParticipantService::Create(ServiceOptions options) {
  if (options.token.empty()) return InvalidArgument("participant service: token is required");
  if (options.max_body_bytes == 0) {
    return InvalidArgument("participant service: max_body_bytes must be > 0");
  }
  return std::shared_ptr<ParticipantService>(new ParticipantService(std::move(options)));
}

Status ParticipantService::Add(std::shared_ptr<Participant> p) {
  if (!p) return InvalidArgument("participant service: null participant");
  const std::string& name = p->name();
  if (name.empty() || name.size() > 64) {
    return InvalidArgument("participant name must be 1..64 bytes, got " +
                           std::to_string(name.size()));
  }
  for (char c : name) {
    if (!IsSegmentChar(c)) {
      return InvalidArgument("participant name '" + name +
                             "' has a character outside [A-Za-z0-9._-]");
    }
  }
  std::unique_lock lock(mu_);
  if (!participants_.emplace(name, std::move(p)).second) {
    return InvalidArgument("participant '" + name + "' is already served");
  }
  return Status::Ok();
}

std::shared_ptr<Participant> ParticipantService::Find(std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = participants_.find(name);
  return it == participants_.end() ? nullptr : it->second;
}

bool ParticipantService::Handles(const Poco::Net::HTTPServerRequest& request) {
  const std::string& uri = request.getURI();
  return uri.compare(0, wire::kRoutePrefix.size(), wire::kRoutePrefix) == 0;
}

Poco::Net::HTTPRequestHandler* ParticipantService::CreateHandler(
    const Poco::Net::HTTPServerRequest&) {
  return new internal::ParticipantHandler(shared_from_this());
}

MountedHandlerFactory::MountedHandlerFactory(std::shared_ptr<ParticipantService> service,
                                             Poco::Net::HTTPRequestHandlerFactory::Ptr fallback)
    : service_(std::move(service)), fallback_(std::move(fallback)) {}

Poco::Net::HTTPRequestHandler* MountedHandlerFactory::createRequestHandler(
    const Poco::Net::HTTPServerRequest& request) {
  if (service_ && ParticipantService::Handles(request)) return service_->CreateHandler(request);
  if (fallback_) return fallback_->createRequestHandler(request);
  return new NotFoundHandler;
}

}  // namespace txcoord::participant
