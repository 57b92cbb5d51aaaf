#include "txcoord/api/request.h"

#include <Poco/DigestEngine.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/SHA2Engine.h>

#include <cmath>
#include <set>
#include <sstream>

#include "txcoord/api/api.pb.h"
#include "txcoord/participant/ids.h"

namespace txcoord::api {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

Status CheckKeys(const Object& obj, const std::set<std::string>& allowed, std::string_view where) {
  for (const auto& [key, value] : obj) {
    if (!allowed.contains(key)) {
      return InvalidArgument("unknown field '" + key + "' in " + std::string(where));
    }
  }
  return Status::Ok();
}

Result<std::string> RequiredString(const Object& obj, const std::string& key,
                                   std::string_view where) {
  if (!obj.has(key)) return InvalidArgument(std::string(where) + " needs \"" + key + "\"");
  const Var& v = obj.get(key);
  if (!v.isString() || v.extract<std::string>().empty()) {
    return InvalidArgument(std::string(where) + " \"" + key + "\" must be a non-empty string");
  }
  return v.extract<std::string>();
}

Result<std::string> ScalarText(const Var& v, const std::string& field) {
  if (v.isString()) return v.extract<std::string>();
  if (v.type() == typeid(bool)) return std::string(v.extract<bool>() ? "true" : "false");
  if (v.isInteger()) return v.convert<std::string>();
  if (v.isNumeric()) {
    const double d = v.convert<double>();
    if (!std::isfinite(d)) return InvalidArgument("payload field '" + field + "' is not finite");
    std::ostringstream os;
    os.precision(17);
    os << d;
    return os.str();
  }
  return InvalidArgument("payload field '" + field +
                         "' must be a string, number or boolean (objects, arrays and null are "
                         "not supported)");
}

Result<participant::Payload> ParsePayload(const Object& parent, std::string_view where) {
  participant::Payload payload;
  if (!parent.has("payload")) return payload;
  Object::Ptr obj = parent.getObject("payload");
  if (obj.isNull()) return InvalidArgument(std::string(where) + " \"payload\" must be an object");
  for (const auto& [key, value] : *obj) {
    auto text = ScalarText(value, key);
    if (!text.ok()) return text.status().Annotate(where);
    payload.emplace(key, std::move(text).value());
  }
  return payload;
}

Result<BranchSpec> ParseBranch(const Object& obj, std::size_t index, const std::string& mode) {
  const std::string where = "branches[" + std::to_string(index) + "]";
  TXC_RETURN_IF_ERROR(
      CheckKeys(obj, {"participant", "action", "payload", "compensation", "group"}, where));
  BranchSpec b;
  TXC_ASSIGN_OR_RETURN(b.participant, RequiredString(obj, "participant", where));
  TXC_ASSIGN_OR_RETURN(b.action, RequiredString(obj, "action", where));
  TXC_ASSIGN_OR_RETURN(b.payload, ParsePayload(obj, where));
  if (obj.has("compensation")) {
    if (mode != "saga") return InvalidArgument(where + ": \"compensation\" is for mode saga");
    Object::Ptr comp = obj.getObject("compensation");
    if (comp.isNull()) return InvalidArgument(where + " \"compensation\" must be an object");
    const std::string cwhere = where + ".compensation";
    TXC_RETURN_IF_ERROR(CheckKeys(*comp, {"action", "payload"}, cwhere));
    CompensationSpec c;
    TXC_ASSIGN_OR_RETURN(c.action, RequiredString(*comp, "action", cwhere));
    TXC_ASSIGN_OR_RETURN(c.payload, ParsePayload(*comp, cwhere));
    b.compensation = std::move(c);
  }
  if (obj.has("group")) {
    if (mode != "saga") return InvalidArgument(where + ": \"group\" is for mode saga");
    const Var& g = obj.get("group");
    if (!g.isInteger() || g.convert<std::int64_t>() < 0 || g.convert<std::int64_t>() > 1'000'000) {
      return InvalidArgument(where + " \"group\" must be an integer 0..1000000");
    }
    b.group = g.convert<std::uint32_t>();
  }
  return b;
}

std::string Sha256Hex(const std::string& text) {
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  engine.update(text);
  return Poco::DigestEngine::digestToHex(engine.digest());
}

Result<Object::Ptr> ParseObject(std::string_view body) {
  Var root;
  try {
    Poco::JSON::Parser parser;
    root = parser.parse(std::string(body));
  } catch (const Poco::Exception& e) {
    return InvalidArgument("body is not valid JSON: " + e.displayText());
  }
  if (root.type() != typeid(Object::Ptr)) return InvalidArgument("body must be a JSON object");
  return root.extract<Object::Ptr>();
}

// Appends a length-prefixed field so no two different requests serialize alike.
void Put(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

void PutPayload(std::string& out, const participant::Payload& payload) {
  Put(out, std::to_string(payload.size()));
  for (const auto& [k, v] : payload) {  // std::map: sorted keys
    Put(out, k);
    Put(out, v);
  }
}

}  // namespace

std::string CanonicalHash(const TransactionRequest& req) {
  std::string out;
  Put(out, req.mode);
  Put(out, req.gid.value_or(""));
  Put(out, std::to_string(req.timeout_ms.value_or(0)));
  Put(out, req.open ? "open" : "closed");
  Put(out, std::to_string(req.branches.size()));
  for (const auto& b : req.branches) {
    Put(out, b.participant);
    Put(out, b.action);
    PutPayload(out, b.payload);
    Put(out, std::to_string(b.group));
    Put(out, b.compensation ? "comp" : "nocomp");
    if (b.compensation) {
      Put(out, b.compensation->action);
      PutPayload(out, b.compensation->payload);
    }
  }
  return Sha256Hex(out);
}

Result<TransactionRequest> ValidateTransactionRequest(TransactionRequest req,
                                                      const Limits& limits) {
  if (req.mode != "2pc" && req.mode != "saga") {
    return InvalidArgument("\"mode\" must be \"2pc\" or \"saga\"");
  }
  if (req.gid) TXC_RETURN_IF_ERROR(participant::ValidateGid(*req.gid));
  if (req.timeout_ms && (*req.timeout_ms <= 0 || *req.timeout_ms > limits.max_timeout_ms)) {
    return InvalidArgument("\"timeout_ms\" must be an integer 1.." +
                           std::to_string(limits.max_timeout_ms));
  }
  if (req.branches.size() > limits.max_branches) {
    return InvalidArgument("too many branches: " + std::to_string(req.branches.size()) + " > " +
                           std::to_string(limits.max_branches));
  }
  if (req.open && req.mode != "2pc") return InvalidArgument("open transactions are 2pc only");
  if (req.open && !req.branches.empty()) {
    return InvalidArgument("an open transaction starts without branches (register them later)");
  }
  if (!req.open && req.branches.empty()) return InvalidArgument("\"branches\" must not be empty");
  for (std::size_t i = 0; i < req.branches.size(); ++i) {
    const auto& b = req.branches[i];
    const std::string where = "branches[" + std::to_string(i) + "]";
    if (b.participant.empty() || b.action.empty()) {
      return InvalidArgument(where + " needs a non-empty \"participant\" and \"action\"");
    }
    if (req.mode != "saga" && (b.compensation || b.group != 0)) {
      return InvalidArgument(where + ": \"compensation\" and \"group\" are for mode saga");
    }
  }
  return req;
}

Result<TransactionRequest> ParseTransactionRequest(std::string_view body, const Limits& limits) {
  TXC_ASSIGN_OR_RETURN(Object::Ptr obj, ParseObject(body));
  TXC_RETURN_IF_ERROR(
      CheckKeys(*obj, {"mode", "gid", "timeout_ms", "open", "branches"}, "the request"));
  TransactionRequest req;
  req.mode = obj->has("mode") ? obj->optValue<std::string>("mode", "") : "2pc";
  if (obj->has("gid")) {
    const Var& g = obj->get("gid");
    if (!g.isString()) return InvalidArgument("\"gid\" must be a string");
    req.gid = g.extract<std::string>();
  }
  if (obj->has("timeout_ms")) {
    const Var& t = obj->get("timeout_ms");
    if (!t.isInteger()) {
      return InvalidArgument("\"timeout_ms\" must be an integer 1.." +
                             std::to_string(limits.max_timeout_ms));
    }
    req.timeout_ms = t.convert<std::int64_t>();
  }
  if (obj->has("open")) {
    const Var& o = obj->get("open");
    if (o.type() != typeid(bool)) return InvalidArgument("\"open\" must be a boolean");
    req.open = o.extract<bool>();
  }
  if (obj->has("branches")) {
    Array::Ptr arr = obj->getArray("branches");
    if (arr.isNull()) return InvalidArgument("\"branches\" must be an array");
    if (arr->size() > limits.max_branches) {
      return InvalidArgument("too many branches: " + std::to_string(arr->size()) + " > " +
                             std::to_string(limits.max_branches));
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      Object::Ptr b = arr->getObject(static_cast<unsigned>(i));
      if (b.isNull())
        return InvalidArgument("branches[" + std::to_string(i) + "] must be an object");
      TXC_ASSIGN_OR_RETURN(BranchSpec spec, ParseBranch(*b, i, req.mode));
      req.branches.push_back(std::move(spec));
    }
  }
  return ValidateTransactionRequest(std::move(req), limits);
}

Result<TransactionRequest> ParseTransactionRequestProto(std::string_view body,
                                                        const Limits& limits) {
  v1::TransactionRequest msg;
  if (!msg.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return InvalidArgument("body is not a valid txcoord.api.v1.TransactionRequest");
  }
  TransactionRequest req;
  req.mode = msg.mode().empty() ? "2pc" : msg.mode();
  if (!msg.gid().empty()) req.gid = msg.gid();
  if (msg.timeout_ms() != 0) req.timeout_ms = msg.timeout_ms();
  req.open = msg.open();
  for (const auto& b : msg.branches()) {
    BranchSpec spec{
        b.participant(), b.action(), {b.payload().begin(), b.payload().end()}, {}, b.group()};
    if (b.has_compensation()) {
      spec.compensation =
          CompensationSpec{b.compensation().action(),
                           {b.compensation().payload().begin(), b.compensation().payload().end()}};
    }
    req.branches.push_back(std::move(spec));
  }
  return ValidateTransactionRequest(std::move(req), limits);
}

Result<RegisterBranchRequest> ParseRegisterBranchRequest(std::string_view body) {
  TXC_ASSIGN_OR_RETURN(Object::Ptr obj, ParseObject(body));
  TXC_RETURN_IF_ERROR(CheckKeys(*obj, {"participant", "branch"}, "the request"));
  RegisterBranchRequest r;
  TXC_ASSIGN_OR_RETURN(r.participant, RequiredString(*obj, "participant", "the request"));
  TXC_ASSIGN_OR_RETURN(r.branch, RequiredString(*obj, "branch", "the request"));
  TXC_RETURN_IF_ERROR(participant::ValidateBranch(r.branch));
  return r;
}

Result<ResolveRequest> ParseResolveRequest(std::string_view body) {
  TXC_ASSIGN_OR_RETURN(Object::Ptr obj, ParseObject(body));
  TXC_RETURN_IF_ERROR(CheckKeys(*obj, {"outcome", "force", "reason", "operator"}, "the request"));
  ResolveRequest r;
  TXC_ASSIGN_OR_RETURN(r.outcome, RequiredString(*obj, "outcome", "the request"));
  if (r.outcome != "commit" && r.outcome != "abort") {
    return InvalidArgument("\"outcome\" must be \"commit\" or \"abort\"");
  }
  TXC_ASSIGN_OR_RETURN(r.reason, RequiredString(*obj, "reason", "the request"));
  if (obj->has("force")) {
    const Var& v = obj->get("force");
    if (v.type() != typeid(bool)) return InvalidArgument("\"force\" must be true or false");
    r.force = v.extract<bool>();
  }
  if (obj->has("operator")) {
    const Var& v = obj->get("operator");
    if (!v.isString()) return InvalidArgument("\"operator\" must be a string");
    r.operator_id = v.extract<std::string>();
  }
  return r;
}

Status ValidateIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyLen) {
    return InvalidArgument("Idempotency-Key must be 1.." + std::to_string(kMaxIdempotencyKeyLen) +
                           " characters");
  }
  for (unsigned char c : key) {
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgument("Idempotency-Key must be visible ASCII characters");
    }
  }
  return Status::Ok();
}

}  // namespace txcoord::api
