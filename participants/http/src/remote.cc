#include "txcoord/participant/remote.h"

#include <array>
#include <exception>
#include <istream>

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/URI.h>

#include "connection_pool.h"
#include "txcoord/core/fault.h"

namespace txcoord::participant {
namespace {

namespace pb = wire::pb;

// Answers larger than this are treated as unreadable (an InDoubt list of many thousands fits).
constexpr std::size_t kMaxAnswerBytes = 64 << 20;

enum class Stage { kSendFailed, kReceiveFailed, kAnswered };

struct Exchanged {
  Stage stage = Stage::kSendFailed;
  std::string error;  // what failed, for kSendFailed / kReceiveFailed
  int http_status = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;
};

Exchanged Send(Poco::Net::HTTPClientSession& s, Poco::Net::HTTPRequest& req,
               const std::string& body) {
  Exchanged ex;
  if (Status f = TXC_FAULT("participant.remote.send"); !f.ok()) {
    ex.error = f.ToString();  // behaves as a send that failed before any byte left
    return ex;
  }
  try {
    std::ostream& os = s.sendRequest(req);
    os.write(body.data(), static_cast<std::streamsize>(body.size()));
    os.flush();
    if (!os.good()) {
      const Poco::Exception* e = s.networkException();
      ex.error = e ? e->displayText() : "request stream failed";
      return ex;
    }
  } catch (const std::exception& e) {
    ex.error = e.what();
    return ex;
  }
  ex.stage = Stage::kReceiveFailed;
  if (Status f = TXC_FAULT("participant.remote.receive"); !f.ok()) {
    ex.error = f.ToString();  // behaves as an answer lost after the request was sent
    return ex;
  }
  try {
    Poco::Net::HTTPResponse resp;
    std::istream& is = s.receiveResponse(resp);
    std::array<char, 16384> buf;
    while (is) {
      is.read(buf.data(), buf.size());
      ex.body.append(buf.data(), static_cast<std::size_t>(is.gcount()));
      if (ex.body.size() > kMaxAnswerBytes) {
        ex.error = "answer larger than " + std::to_string(kMaxAnswerBytes) + " bytes";
        return ex;
      }
    }
    if (!is.eof() || (resp.hasContentLength() &&
                      resp.getContentLength64() != static_cast<Poco::Int64>(ex.body.size()))) {
      const Poco::Exception* e = s.networkException();
      ex.error = e ? e->displayText() : "answer cut short";
      return ex;
    }
    ex.http_status = static_cast<int>(resp.getStatus());
    ex.content_type = resp.getContentType();
    ex.keep_alive = resp.getKeepAlive();
    ex.stage = Stage::kAnswered;
  } catch (const std::exception& e) {
    const Poco::Exception* pe = dynamic_cast<const Poco::Exception*>(&e);
    ex.error = pe ? pe->displayText() : e.what();
  }
  return ex;
}

std::string Snippet(const std::string& body) {
  return body.size() <= 200 ? body : body.substr(0, 200) + "...";
}

}  // namespace

Result<std::unique_ptr<RemoteParticipant>> RemoteParticipant::Create(RemoteConfig config) {
  TXC_RETURN_IF_ERROR(ValidateRemoteConfig(config));
  return std::unique_ptr<RemoteParticipant>(new RemoteParticipant(std::move(config)));
}

RemoteParticipant::RemoteParticipant(RemoteConfig config) : config_(std::move(config)) {
  Poco::URI uri(config_.base_url);  // validated by Create
  pool_ = std::make_unique<internal::ConnectionPool>(uri.getHost(), uri.getPort(),
                                                     config_.max_connections,
                                                     config_.connect_timeout, config_.call_timeout);
}

RemoteParticipant::~RemoteParticipant() = default;

int RemoteParticipant::connections_opened() const {
  return pool_->opened();
}

Status RemoteParticipant::Validate(std::string_view action, const Payload& payload) const {
  TXC_RETURN_IF_ERROR(wire::CheckAction(action));
  for (const auto& [key, value] : payload) {
    if (key.empty()) return InvalidArgument("payload has an empty field name");
  }
  return Status::Ok();
}

Status RemoteParticipant::Call(const std::string& path, const google::protobuf::Message* body,
                               bool has_effect, google::protobuf::Message* out) {
  const wire::Encoding enc = config_.encoding;
  const std::string content_type(wire::ContentType(enc));
  std::string data;
  if (body) {
    TXC_ASSIGN_OR_RETURN(data, wire::Encode(*body, enc));
  }
  const std::string target = "/v1/participant/" + config_.name + path;
  const std::string where = config_.name + " " + target;
  for (int attempt = 0;; ++attempt) {
    Poco::Net::HTTPRequest req(
        body ? Poco::Net::HTTPRequest::HTTP_POST : Poco::Net::HTTPRequest::HTTP_GET, target,
        Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    req.set("Authorization", "Bearer " + config_.token);
    req.set("Accept", content_type);
    if (body) {
      req.setContentType(content_type);
      req.setContentLength64(static_cast<Poco::Int64>(data.size()));
    }
    TXC_ASSIGN_OR_RETURN(internal::Lease lease, pool_->Acquire());
    const bool reused = lease.reused;
    Exchanged ex = Send(*lease.session, req, data);
    pool_->Release(std::move(lease), ex.stage == Stage::kAnswered && ex.keep_alive);
    if (ex.stage == Stage::kSendFailed) {
      if (reused && attempt == 0) continue;  // stale keep-alive connection: nothing was sent
      return Unavailable(where + ": could not send: " + ex.error);
    }
    if (ex.stage == Stage::kReceiveFailed) {
      const std::string msg = where + ": no answer after sending: " + ex.error;
      return has_effect ? UnknownOutcome(msg) : Unavailable(msg);
    }
    auto answer_enc = wire::EncodingOf(ex.content_type);
    if (ex.http_status == 200) {
      Status s = answer_enc.ok() ? wire::Decode(ex.body, *answer_enc, out) : answer_enc.status();
      if (s.ok()) return s;
      const std::string msg = where + ": unreadable answer: " + s.message();
      return has_effect ? UnknownOutcome(msg) : Unavailable(msg);
    }
    pb::ErrorResponse err;
    if (answer_enc.ok() && wire::Decode(ex.body, *answer_enc, &err).ok() &&
        wire::CodeFromName(err.code()).ok()) {
      return wire::FromProto(err).Annotate(config_.name);
    }
    return Status(wire::FallbackCode(ex.http_status, has_effect),
                  where + ": HTTP " + std::to_string(ex.http_status) + ": " + Snippet(ex.body));
  }
}

Result<PrepareResult> RemoteParticipant::Prepare(const BranchCall& call) {
  auto req = wire::CallToProto<pb::PrepareRequest>(call);
  pb::PrepareResponse resp;
  TXC_RETURN_IF_ERROR(Call("/prepare", &req, true, &resp));
  if (resp.vote() == pb::PrepareResponse::VOTE_YES) return PrepareResult{Vote::kYes, ""};
  if (resp.vote() == pb::PrepareResponse::VOTE_NO) return PrepareResult{Vote::kNo, resp.reason()};
  return UnknownOutcome(config_.name + ": prepare answer without a vote");
}

Status RemoteParticipant::Commit(const BranchId& id) {
  pb::CommitRequest req;
  *req.mutable_id() = wire::ToProto(id);
  pb::Ack ack;
  return Call("/commit", &req, true, &ack);
}

Status RemoteParticipant::Abort(const BranchId& id) {
  pb::AbortRequest req;
  *req.mutable_id() = wire::ToProto(id);
  pb::Ack ack;
  return Call("/abort", &req, true, &ack);
}

Result<ExecuteResult> RemoteParticipant::Execute(const BranchCall& call) {
  auto req = wire::CallToProto<pb::ExecuteRequest>(call);
  pb::ExecuteResponse resp;
  TXC_RETURN_IF_ERROR(Call("/execute", &req, true, &resp));
  if (resp.outcome() == pb::ExecuteResponse::OUTCOME_DONE) {
    return ExecuteResult{Outcome::kDone, ""};
  }
  if (resp.outcome() == pb::ExecuteResponse::OUTCOME_REFUSED) {
    return ExecuteResult{Outcome::kRefused, resp.reason()};
  }
  return UnknownOutcome(config_.name + ": execute answer without an outcome");
}

Status RemoteParticipant::Compensate(const BranchCall& call) {
  auto req = wire::CallToProto<pb::CompensateRequest>(call);
  pb::Ack ack;
  return Call("/compensate", &req, true, &ack);
}

Result<std::vector<InDoubtBranch>> RemoteParticipant::InDoubt(std::string_view coordinator_id) {
  if (!coordinator_id.empty()) TXC_RETURN_IF_ERROR(ValidateCoordinatorId(coordinator_id));
  std::string path = "/in_doubt";
  if (!coordinator_id.empty()) path += "?coordinator=" + std::string(coordinator_id);
  pb::InDoubtResponse resp;
  TXC_RETURN_IF_ERROR(Call(path, nullptr, false, &resp));
  std::vector<InDoubtBranch> out;
  out.reserve(static_cast<std::size_t>(resp.branches_size()));
  for (const pb::InDoubtBranch& b : resp.branches()) {
    auto id = wire::FromProto(b.id(), b.has_id());
    if (!id.ok()) return Unavailable(config_.name + ": in_doubt answer: " + id.status().message());
    out.push_back({*id, std::chrono::system_clock::time_point(
                            std::chrono::milliseconds(b.prepared_at_unix_ms()))});
  }
  return out;
}

}  // namespace txcoord::participant
