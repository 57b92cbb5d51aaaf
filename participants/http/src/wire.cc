#include "txcoord/participant/wire.h"

#include <google/protobuf/util/json_util.h>

#include <array>
#include <cctype>

namespace txcoord::participant::wire {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

constexpr std::array kAllCodes = {Code::kOk,
                                  Code::kInvalidArgument,
                                  Code::kNotFound,
                                  Code::kConflict,
                                  Code::kFailedPrecondition,
                                  Code::kUnauthenticated,
                                  Code::kResourceExhausted,
                                  Code::kUnavailable,
                                  Code::kTimeout,
                                  Code::kAborted,
                                  Code::kUnknownOutcome,
                                  Code::kDataLoss,
                                  Code::kInternal};

}  // namespace

Result<Encoding> EncodingOf(std::string_view content_type) {
  std::string_view media = Trim(content_type.substr(0, content_type.find(';')));
  if (IEquals(media, kJsonType)) return Encoding::kJson;
  if (IEquals(media, kProtobufType)) return Encoding::kProtobuf;
  return InvalidArgument("unsupported content type '" + std::string(content_type) +
                         "' (want application/json or application/x-protobuf)");
}

std::string_view ContentType(Encoding e) {
  return e == Encoding::kJson ? kJsonType : kProtobufType;
}

Result<std::string> Encode(const google::protobuf::Message& msg, Encoding e) {
  std::string out;
  if (e == Encoding::kProtobuf) {
    if (!msg.SerializeToString(&out)) return Internal("cannot serialize " + msg.GetTypeName());
    return out;
  }
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  auto st = google::protobuf::util::MessageToJsonString(msg, &out, opts);
  if (!st.ok()) {
    return Internal("cannot write " + msg.GetTypeName() + " as JSON: " + std::string(st.message()));
  }
  return out;
}

Status Decode(std::string_view body, Encoding e, google::protobuf::Message* msg) {
  if (e == Encoding::kProtobuf) {
    if (!msg->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return InvalidArgument("malformed protobuf body for " + msg->GetTypeName());
    }
    return Status::Ok();
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), msg, opts);
  if (!st.ok()) {
    return InvalidArgument("malformed JSON body for " + msg->GetTypeName() + ": " +
                           std::string(st.message()));
  }
  return Status::Ok();
}

int HttpStatusOf(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kNotFound:
      return 404;
    case Code::kConflict:
    case Code::kAborted:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
      return 503;
    case Code::kTimeout:
      return 504;
    case Code::kUnknownOutcome:
    case Code::kDataLoss:
    case Code::kInternal:
      return 500;
  }
  return 500;
}

Result<Code> CodeFromName(std::string_view name) {
  for (Code c : kAllCodes) {
    if (CodeName(c) == name) return c;
  }
  return NotFound("unknown status code name '" + std::string(name) + "'");
}

Code FallbackCode(int http_status, bool has_effect) {
  switch (http_status) {
    case 400:
    case 405:
    case 413:
    case 415:
      return Code::kInvalidArgument;
    case 401:
    case 403:
      return Code::kUnauthenticated;
    case 404:
      return Code::kNotFound;
    case 409:
      return Code::kConflict;
    case 429:
      return Code::kResourceExhausted;
    default:
      break;
  }
  if (http_status >= 500) return has_effect ? Code::kUnknownOutcome : Code::kUnavailable;
  return Code::kInternal;
}

pb::ErrorResponse ToProto(const Status& s) {
  pb::ErrorResponse e;
  e.set_code(std::string(CodeName(s.code())));
  e.set_message(s.message());
  return e;
}

Status FromProto(const pb::ErrorResponse& e) {
  auto code = CodeFromName(e.code());
  if (!code.ok()) return Internal("peer sent " + code.status().message() + ": " + e.message());
  if (*code == Code::kOk) return Internal("peer sent an error with code OK: " + e.message());
  return Status(*code, e.message());
}

pb::BranchId ToProto(const BranchId& id) {
  pb::BranchId p;
  p.set_coordinator(id.coordinator);
  p.set_gid(id.gid);
  p.set_branch(id.branch);
  return p;
}

Result<BranchId> FromProto(const pb::BranchId& id, bool has_id) {
  if (!has_id) return InvalidArgument("missing field 'id'");
  BranchId out{id.coordinator(), id.gid(), id.branch()};
  if (Status s = Validate(out); !s.ok()) return s.Annotate("invalid id");
  return out;
}

Status CheckAction(std::string_view action) {
  if (action.empty()) return InvalidArgument("missing field 'action'");
  return Status::Ok();
}

}  // namespace txcoord::participant::wire
