#pragma once
// The participant protocol on the wire: encodings, the Code <-> HTTP status mapping, and the
// conversions between participant.proto messages and the Participant interface's types.
// Used by ParticipantService (server side) and RemoteParticipant (client side); see
// docs/participant-protocol.md. Thread-safety: free functions without shared state.
#include <string>
#include <string_view>

#include "txcoord/core/status.h"
#include "txcoord/participant/participant.h"
#include "txcoord/participant/participant.pb.h"

namespace txcoord::participant::wire {

namespace pb = ::txcoord::participant::v1;

enum class Encoding { kJson, kProtobuf };

inline constexpr std::string_view kJsonType = "application/json";
inline constexpr std::string_view kProtobufType = "application/x-protobuf";
inline constexpr std::string_view kRoutePrefix = "/v1/participant/";

// The encoding named by a Content-Type (or Accept) value; parameters (";charset=...") are
// ignored. InvalidArgument for anything else.
Result<Encoding> EncodingOf(std::string_view content_type);
std::string_view ContentType(Encoding e);

// Serializes `msg`; JSON uses Protobuf's canonical mapping (lowerCamelCase field names).
Result<std::string> Encode(const google::protobuf::Message& msg, Encoding e);
// Parses `body` into `msg`; InvalidArgument with the parser's reason on malformed input.
// JSON with unknown fields is rejected (a typo must not silently drop a field).
Status Decode(std::string_view body, Encoding e, google::protobuf::Message* msg);

// HTTP status of a Code: OK 200, INVALID_ARGUMENT/FAILED_PRECONDITION 400, UNAUTHENTICATED 401,
// NOT_FOUND 404, CONFLICT/ABORTED 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, TIMEOUT 504,
// UNKNOWN_OUTCOME/DATA_LOSS/INTERNAL 500. The body's code is authoritative either way.
int HttpStatusOf(Code code);
// Inverse of CodeName(); NotFound for names this build does not know.
Result<Code> CodeFromName(std::string_view name);
// The Code a client assumes for an HTTP error whose body carries no readable code (a proxy's
// page, a truncated body). 5xx after the request was sent means "may have happened" for a call
// with effect (`has_effect`), "try again" otherwise.
Code FallbackCode(int http_status, bool has_effect);

pb::ErrorResponse ToProto(const Status& s);
Status FromProto(const pb::ErrorResponse& e);

pb::BranchId ToProto(const BranchId& id);
// Missing or invalid fields (ids.h Validate) → InvalidArgument naming the field.
Result<BranchId> FromProto(const pb::BranchId& id, bool has_id);

// Builds the call of Prepare/Execute/Compensate from its request message (the three share the
// fields id, action, payload). InvalidArgument when the id is missing/invalid or action empty.
template <typename Req>
Result<BranchCall> CallFromProto(const Req& req);
template <typename Req>
Req CallToProto(const BranchCall& call);

}  // namespace txcoord::participant::wire

namespace txcoord::participant::wire {

Status CheckAction(std::string_view action);

template <typename Req>
Result<BranchCall> CallFromProto(const Req& req) {
  BranchCall call;
  TXC_ASSIGN_OR_RETURN(call.id, FromProto(req.id(), req.has_id()));
  TXC_RETURN_IF_ERROR(CheckAction(req.action()));
  call.action = req.action();
  for (const auto& [k, v] : req.payload()) call.payload.emplace(k, v);
  return call;
}

template <typename Req>
Req CallToProto(const BranchCall& call) {
  Req req;
  *req.mutable_id() = ToProto(call.id);
  req.set_action(call.action);
  for (const auto& [k, v] : call.payload) (*req.mutable_payload())[k] = v;
  return req;
}

}  // namespace txcoord::participant::wire
