#pragma once
// RemoteParticipant: the Participant interface over HTTP (docs/participant-protocol.md), for a
// participant served by another process's ParticipantService.
//
// Error mapping (the protocol's meaning is preserved):
//   could not connect / could not send the request         kUnavailable (nothing applied)
//   timeout or connection lost after the request was sent  kUnknownOutcome (InDoubt: kUnavailable)
//   error answer from the server                           the server's Status, code and message
//   answer that cannot be parsed                           kUnknownOutcome (InDoubt: kUnavailable)
// Retries: exactly one, transparent, when the send itself failed on a reused keep-alive
// connection (the server closed it while idle; nothing can have been applied). Everything else
// is left to the caller, whose Reaction the code tells.
// Thread-safety: every call is safe from many threads; at most max_connections run at once,
// further callers wait (up to call_timeout, then kUnavailable) for a connection.
#include <chrono>
#include <memory>
#include <string>

#include <Poco/JSON/Object.h>

#include "txcoord/participant/participant.h"
#include "txcoord/participant/wire.h"

namespace txcoord::participant {

namespace internal {
class ConnectionPool;
}

struct RemoteConfig {
  std::string name;      // participant name, also the route segment on the server
  std::string base_url;  // "http://host:port" (no path, no https)
  std::string token;     // bearer token of the server's ParticipantService
  std::chrono::milliseconds connect_timeout{1000};
  // Bound on sending the request and on each wait for the answer's bytes.
  std::chrono::milliseconds call_timeout{5000};
  int max_connections = 16;
  wire::Encoding encoding = wire::Encoding::kProtobuf;
};

// Checks a config: name a valid route segment, http URL with host and port, token non-empty,
// timeouts > 0, 1 <= max_connections <= 1024. InvalidArgument with the reason.
Status ValidateRemoteConfig(const RemoteConfig& config);

// {"name":"wallet-redis","kind":"remote","url":"http://127.0.0.1:7001","token":"...",
//  "connect_timeout_ms":1000,"call_timeout_ms":5000,"max_connections":16,
//  "encoding":"protobuf"|"json"}
// name, url and token are required; "kind", when present, must be "remote"; the rest default
// as in RemoteConfig. Unknown keys, wrong types and out-of-range values → InvalidArgument.
Result<RemoteConfig> ParseRemoteConfig(const Poco::JSON::Object& json);

class RemoteParticipant final : public Participant {
 public:
  // InvalidArgument when ValidateRemoteConfig fails. Does not connect.
  static Result<std::unique_ptr<RemoteParticipant>> Create(RemoteConfig config);
  ~RemoteParticipant() override;

  const std::string& name() const override { return config_.name; }
  // Local checks only (no round trip): action non-empty and payload keys non-empty. The server
  // validates for real when the call arrives (400 → kInvalidArgument).
  Status Validate(std::string_view action, const Payload& payload) const override;

  Result<PrepareResult> Prepare(const BranchCall& call) override;
  Status Commit(const BranchId& id) override;
  Status Abort(const BranchId& id) override;
  Result<ExecuteResult> Execute(const BranchCall& call) override;
  Status Compensate(const BranchCall& call) override;
  Result<std::vector<InDoubtBranch>> InDoubt(std::string_view coordinator_id) override;

  // TCP connections opened so far (for tests and metrics).
  int connections_opened() const;

 private:
  explicit RemoteParticipant(RemoteConfig config);

  struct Answer;
  // POSTs (or GETs when `body` is null) and parses a 200 answer into `out`.
  Status Call(const std::string& path, const google::protobuf::Message* body, bool has_effect,
              google::protobuf::Message* out);

  RemoteConfig config_;
  std::unique_ptr<internal::ConnectionPool> pool_;
};

}  // namespace txcoord::participant
