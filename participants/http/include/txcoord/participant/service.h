#pragma once
// ParticipantService: serves named Participants over HTTP (docs/participant-protocol.md), to be
// mounted into a service's own Poco HTTP server or run by ParticipantServer.
//
//   auto svc = ParticipantService::Create({.token = "s3cret"}).value();
//   TXC_RETURN_IF_ERROR(svc->Add(my_pg_participant));
//   // either: own server
//   ParticipantServer server(svc, {.port = 7001});
//   // or: mount next to the service's routes
//   new HTTPServer(new MountedHandlerFactory(svc, my_factory), socket, params);
//
// Every request under /v1/participant/ is checked in this order, and the Participant is called
// only when all pass: route shape (404), bearer token (401), participant name and action (404),
// method (405), content type (415), body size (413, decided from Content-Length before reading, or
// while streaming), body parse and ids (400).
// Thread-safety: Add/Find and handler creation are safe from any thread. Handlers keep the
// service alive (shared_ptr) for as long as they run.
#include <cstddef>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerRequest.h>

#include "txcoord/core/status.h"
#include "txcoord/participant/participant.h"

namespace txcoord::participant {

inline constexpr std::size_t kDefaultMaxBodyBytes = 1 << 20;

struct ServiceOptions {
  // Bearer token every request must carry ("Authorization: Bearer <token>"). Required.
  std::string token;
  // Larger request bodies are answered 413 without being kept in memory.
  std::size_t max_body_bytes = kDefaultMaxBodyBytes;
};

class ParticipantService : public std::enable_shared_from_this<ParticipantService> {
 public:
  // InvalidArgument for an empty token or a zero body limit.
  static Result<std::shared_ptr<ParticipantService>> Create(ServiceOptions options);

  // Serves `p` under /v1/participant/<p->name()>. InvalidArgument for null, a name that is not
  // a valid path segment ([A-Za-z0-9._-]+), or a name already served.
  Status Add(std::shared_ptr<Participant> p);
  // nullptr when no participant has that name.
  std::shared_ptr<Participant> Find(std::string_view name) const;

  // True for every request this service answers (path under /v1/participant/).
  static bool Handles(const Poco::Net::HTTPServerRequest& request);
  // A handler for a request Handles() accepted; the caller (Poco) owns and deletes it.
  Poco::Net::HTTPRequestHandler* CreateHandler(const Poco::Net::HTTPServerRequest& request);

  const ServiceOptions& options() const { return options_; }

 private:
  explicit ParticipantService(ServiceOptions options) : options_(std::move(options)) {}

  const ServiceOptions options_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Participant>, std::less<>> participants_;
};

// A Poco handler factory that answers /v1/participant/... with `service` and hands every other
// request to `fallback` (the service's own factory). A null fallback answers 404.
class MountedHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  MountedHandlerFactory(std::shared_ptr<ParticipantService> service,
                        Poco::Net::HTTPRequestHandlerFactory::Ptr fallback);
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override;

 private:
  std::shared_ptr<ParticipantService> service_;
  Poco::Net::HTTPRequestHandlerFactory::Ptr fallback_;
};

}  // namespace txcoord::participant
