#include "handler.h"

#include <array>
#include <exception>
#include <istream>
#include <optional>

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

#include "txcoord/core/fault.h"
#include "txcoord/participant/http_util.h"
#include "txcoord/participant/wire.h"

namespace txcoord::participant::internal {
namespace {

using google::protobuf::Message;
using MessagePtr = std::unique_ptr<Message>;
namespace pb = wire::pb;

// Bytes of an unwanted body read (and dropped) so a keep-alive connection stays usable and the
// client reads our error instead of a reset. Beyond this the connection is closed.
constexpr std::size_t kExtraDrainBytes = 16 << 20;

struct Route {
  std::string participant;
  std::string op;  // empty = describe
};

// "/v1/participant/<name>[/<op>]" → Route; nullopt for any other shape.
std::optional<Route> ParseRoute(const std::string& path) {
  std::string_view rest(path);
  if (rest.substr(0, wire::kRoutePrefix.size()) != wire::kRoutePrefix) return std::nullopt;
  rest.remove_prefix(wire::kRoutePrefix.size());
  Route r;
  const auto slash = rest.find('/');
  r.participant = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) r.op = std::string(rest.substr(slash + 1));
  if (r.participant.empty() || r.op.find('/') != std::string::npos) return std::nullopt;
  if (slash != std::string_view::npos && r.op.empty()) return std::nullopt;
  return r;
}

// Calls into the participant are the one place foreign code may throw.
template <typename Fn>
auto Guard(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Internal(std::string("participant threw: ") + e.what());
  } catch (...) {
    return Internal("participant threw a non-standard exception");
  }
}

template <typename Req>
Result<Req> DecodeAs(std::string_view body, wire::Encoding enc) {
  Req req;
  TXC_RETURN_IF_ERROR(wire::Decode(body, enc, &req));
  return req;
}

Result<MessagePtr> DoPrepare(Participant& p, std::string_view body, wire::Encoding enc) {
  TXC_ASSIGN_OR_RETURN(auto req, DecodeAs<pb::PrepareRequest>(body, enc));
  TXC_ASSIGN_OR_RETURN(BranchCall call, wire::CallFromProto(req));
  TXC_ASSIGN_OR_RETURN(PrepareResult r, Guard([&] { return p.Prepare(call); }));
  auto out = std::make_unique<pb::PrepareResponse>();
  out->set_vote(r.vote == Vote::kYes ? pb::PrepareResponse::VOTE_YES
                                     : pb::PrepareResponse::VOTE_NO);
  out->set_reason(r.reason);
  return MessagePtr(std::move(out));
}

Result<MessagePtr> DoExecute(Participant& p, std::string_view body, wire::Encoding enc) {
  TXC_ASSIGN_OR_RETURN(auto req, DecodeAs<pb::ExecuteRequest>(body, enc));
  TXC_ASSIGN_OR_RETURN(BranchCall call, wire::CallFromProto(req));
  TXC_ASSIGN_OR_RETURN(ExecuteResult r, Guard([&] { return p.Execute(call); }));
  auto out = std::make_unique<pb::ExecuteResponse>();
  out->set_outcome(r.outcome == Outcome::kDone ? pb::ExecuteResponse::OUTCOME_DONE
                                               : pb::ExecuteResponse::OUTCOME_REFUSED);
  out->set_reason(r.reason);
  return MessagePtr(std::move(out));
}

Result<MessagePtr> DoCompensate(Participant& p, std::string_view body, wire::Encoding enc) {
  TXC_ASSIGN_OR_RETURN(auto req, DecodeAs<pb::CompensateRequest>(body, enc));
  TXC_ASSIGN_OR_RETURN(BranchCall call, wire::CallFromProto(req));
  TXC_RETURN_IF_ERROR(Guard([&] { return p.Compensate(call); }));
  return MessagePtr(std::make_unique<pb::Ack>());
}

template <typename Req>
Result<MessagePtr> DoDecide(Participant& p, std::string_view body, wire::Encoding enc,
                            bool commit) {
  TXC_ASSIGN_OR_RETURN(auto req, DecodeAs<Req>(body, enc));
  TXC_ASSIGN_OR_RETURN(BranchId id, wire::FromProto(req.id(), req.has_id()));
  TXC_RETURN_IF_ERROR(Guard([&] { return commit ? p.Commit(id) : p.Abort(id); }));
  return MessagePtr(std::make_unique<pb::Ack>());
}

Result<MessagePtr> DoInDoubt(Participant& p, const Poco::URI& uri) {
  std::string coordinator;
  for (const auto& [k, v] : uri.getQueryParameters()) {
    if (k != "coordinator") return InvalidArgument("unknown query parameter '" + k + "'");
    coordinator = v;
  }
  if (!coordinator.empty()) TXC_RETURN_IF_ERROR(ValidateCoordinatorId(coordinator));
  TXC_ASSIGN_OR_RETURN(auto branches, Guard([&] { return p.InDoubt(coordinator); }));
  auto out = std::make_unique<pb::InDoubtResponse>();
  for (const InDoubtBranch& b : branches) {
    pb::InDoubtBranch* pbb = out->add_branches();
    *pbb->mutable_id() = wire::ToProto(b.id);
    pbb->set_prepared_at_unix_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(b.prepared_at.time_since_epoch())
            .count());
  }
  return MessagePtr(std::move(out));
}

Result<MessagePtr> DoDescribe(Participant& p) {
  auto out = std::make_unique<pb::DescribeResponse>();
  out->set_name(p.name());
  for (const char* op : {"prepare", "commit", "abort", "execute", "compensate", "in_doubt"}) {
    out->add_routes(std::string(wire::kRoutePrefix) + p.name() + "/" + op);
  }
  return MessagePtr(std::move(out));
}

bool IsPostOp(const std::string& op) {
  return op == "prepare" || op == "commit" || op == "abort" || op == "execute" ||
         op == "compensate";
}

// One request's state: what was read, how to answer.
class Exchange {
 public:
  Exchange(ParticipantService& svc, Poco::Net::HTTPServerRequest& req,
           Poco::Net::HTTPServerResponse& resp)
      : svc_(svc), req_(req), resp_(resp) {
    auto ct = wire::EncodingOf(req.getContentType());
    auto accept = wire::EncodingOf(req.get("Accept", ""));
    enc_ = ct.ok() ? *ct : accept.ok() ? *accept : wire::Encoding::kJson;
  }

  void Run() {
    Poco::URI uri;
    try {
      uri = Poco::URI(req_.getURI());
    } catch (const std::exception& e) {
      return Fail(InvalidArgument(std::string("malformed request URI: ") + e.what()));
    }
    auto route = ParseRoute(uri.getPath());
    if (!route) return Fail(NotFound("no route " + uri.getPath()));
    if (Status s = http::CheckBearer(req_, svc_.options().token); !s.ok()) {
      resp_.set("WWW-Authenticate", "Bearer");
      return Fail(s);
    }
    std::shared_ptr<Participant> p = svc_.Find(route->participant);
    if (!p) return Fail(NotFound("unknown participant '" + route->participant + "'"));
    const bool post = IsPostOp(route->op);
    if (!post && !route->op.empty() && route->op != "in_doubt") {
      return Fail(NotFound("unknown action '" + route->op + "'"));
    }
    const std::string& want =
        post ? Poco::Net::HTTPRequest::HTTP_POST : Poco::Net::HTTPRequest::HTTP_GET;
    if (req_.getMethod() != want) {
      resp_.set("Allow", want);
      return Fail(InvalidArgument(route->op + " needs " + want), 405);
    }
    if (!post) return Reply(route->op.empty() ? DoDescribe(*p) : DoInDoubt(*p, uri));
    auto ct = wire::EncodingOf(req_.getContentType());
    if (!ct.ok()) return Fail(ct.status(), 415);
    auto body = http::ReadBody(req_, svc_.options().max_body_bytes);
    if (!body) {
      return Fail(InvalidArgument("request body exceeds the limit of " +
                                  std::to_string(svc_.options().max_body_bytes) + " bytes"),
                  413);
    }
    body_read_ = true;
    Reply(Apply(*p, route->op, *body, *ct));
  }

  void Fail(const Status& s, int http = 0) {
    if (!body_read_) {
      // A declared length past the cap is not waited for: answer at once and close.
      const std::size_t cap = svc_.options().max_body_bytes + kExtraDrainBytes;
      const bool hopeless =
          req_.hasContentLength() && req_.getContentLength64() > static_cast<Poco::Int64>(cap);
      if (hopeless || !http::Drain(req_.stream(), cap)) resp_.setKeepAlive(false);
    }
    auto body = wire::Encode(wire::ToProto(s), enc_);
    Send(http != 0 ? http : wire::HttpStatusOf(s.code()), body.ok() ? *body : s.ToString());
  }

 private:
  static Result<MessagePtr> Dispatch(Participant& p, const std::string& op, std::string_view body,
                                     wire::Encoding enc) {
    if (op == "prepare") return DoPrepare(p, body, enc);
    if (op == "execute") return DoExecute(p, body, enc);
    if (op == "compensate") return DoCompensate(p, body, enc);
    if (op == "commit") return DoDecide<pb::CommitRequest>(p, body, enc, true);
    return DoDecide<pb::AbortRequest>(p, body, enc, false);
  }

  // Fault points for crash tests of a participant process: "crash" before or after the
  // participant applied the call; "error(code)" answers that code instead.
  static Result<MessagePtr> Apply(Participant& p, const std::string& op, std::string_view body,
                                  wire::Encoding enc) {
    TXC_RETURN_IF_ERROR(TXC_FAULT("participant.server.before_apply"));
    auto r = Dispatch(p, op, body, enc);
    TXC_RETURN_IF_ERROR(TXC_FAULT("participant.server.after_apply"));
    return r;
  }

  void Reply(const Result<MessagePtr>& r) {
    if (!r.ok()) return Fail(r.status());
    auto body = wire::Encode(**r, enc_);
    if (!body.ok()) return Fail(body.status());
    Send(200, *body);
  }

  void Send(int http, const std::string& body) {
    resp_.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(http));
    resp_.setContentType(std::string(wire::ContentType(enc_)));
    resp_.setContentLength(static_cast<std::streamsize>(body.size()));
    resp_.sendBuffer(body.data(), body.size());
  }

  ParticipantService& svc_;
  Poco::Net::HTTPServerRequest& req_;
  Poco::Net::HTTPServerResponse& resp_;
  wire::Encoding enc_;
  bool body_read_ = false;
};

}  // namespace

void ParticipantHandler::handleRequest(Poco::Net::HTTPServerRequest& request,
                                       Poco::Net::HTTPServerResponse& response) {
  try {
    Exchange ex(*service_, request, response);
    try {
      ex.Run();
    } catch (const std::exception& e) {
      if (!response.sent()) ex.Fail(Internal(std::string("participant handler: ") + e.what()));
    }
  } catch (...) {
    // The response could not be written (peer gone); Poco closes the connection.
    response.setKeepAlive(false);
  }
}

}  // namespace txcoord::participant::internal
